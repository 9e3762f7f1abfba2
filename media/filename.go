package media

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"strings"
	"sync/atomic"

	"github.com/jobsphere/jobsphere"
)

// Go's multipart parser (and so gqlgen's upload transport) hands handlers
// only the base of a part's file name: "../../etc/x.png" arrives as
// "x.png". Stored files never use the client's name, so such a name cannot
// escape the media directory; but a client that sends one has a bug or is
// probing, and deserves an error rather than a silent rename. GuardFileNames
// reads the raw part headers as the body streams past, without buffering
// the files, and Service.Upload refuses the request if one was unsafe, or
// if a part's header was too big for the guard to read whole (Go's parser
// takes part headers of up to 10 MB: a name behind 16 KB of padding would
// otherwise pass unseen).

type fileNameGuardKey struct{}

// maxPartHeader bounds what is kept of one part's headers; a part with a
// bigger header is refused. Real clients send a few hundred bytes.
const maxPartHeader = 16 << 10

// What the guard refuses a request for.
const (
	msgUnsafeFileName     = "Invalid file name: send the file's name without a path"
	msgPartHeaderTooLarge = "Invalid multipart request: a part's headers are over 16 KB"
	msgBadPartHeader      = "Invalid multipart request: a part's headers cannot be read"
)

// GuardFileNames returns r with its multipart body watched for unsafe file
// names. Requests that are not multipart are returned unchanged.
func GuardFileNames(r *http.Request) *http.Request {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return r
	}
	g := &fileNameGuard{
		body:   r.Body,
		delim:  []byte("\r\n--" + params["boundary"]),
		window: []byte("\r\n"), // so the first boundary, at the very start, matches too
	}
	guarded := r.WithContext(context.WithValue(r.Context(), fileNameGuardKey{}, g))
	guarded.Body = g
	return guarded
}

// checkFileName refuses the upload when the request carried an unsafe file
// name in any of its parts, or a part header the guard could not read.
func checkFileName(ctx context.Context) error {
	if g, ok := ctx.Value(fileNameGuardKey{}).(*fileNameGuard); ok {
		if msg := g.refused.Load(); msg != nil {
			return jobsphere.InvalidInput(jobsphere.FieldError{Field: "file", Message: *msg})
		}
	}
	return nil
}

// safeFileName reports whether a client's file name is a plain name: no
// directory, no parent reference, no control characters.
func safeFileName(name string) bool {
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// fileNameGuard scans a multipart stream for part headers as it is read.
// It looks at each byte once and keeps at most one header block.
type fileNameGuard struct {
	body     io.ReadCloser
	delim    []byte // CRLF "--" boundary
	window   []byte // unscanned tail: a possible partial delimiter, or a header block
	inHeader bool
	refused  atomic.Pointer[string] // the first problem, set while the body is read, checked by Service.Upload
}

func (g *fileNameGuard) Read(p []byte) (int, error) {
	n, err := g.body.Read(p)
	g.scan(p[:n])
	return n, err
}

func (g *fileNameGuard) Close() error { return g.body.Close() }

func (g *fileNameGuard) scan(b []byte) {
	g.window = append(g.window, b...)
	for {
		if !g.inHeader {
			i := bytes.Index(g.window, g.delim)
			if i < 0 {
				// Keep only what could still begin a delimiter.
				if keep := len(g.delim) - 1; len(g.window) > keep {
					g.window = append(g.window[:0], g.window[len(g.window)-keep:]...)
				}
				return
			}
			g.window = append(g.window[:0], g.window[i+len(g.delim):]...)
			g.inHeader = true
			continue
		}
		// However the body is cut into reads, a header over the bound is
		// refused, whole or not.
		end := bytes.Index(g.window, []byte("\r\n\r\n"))
		if end < 0 && len(g.window) <= maxPartHeader {
			return
		}
		if end < 0 || end > maxPartHeader {
			g.refuse(msgPartHeaderTooLarge)
			g.window, g.inHeader = g.window[:0], false
			return
		}
		g.checkHeader(string(g.window[:end]))
		g.window = append(g.window[:0], g.window[end+4:]...)
		g.inHeader = false
	}
}

// checkHeader reads a part's header block (what follows the delimiter:
// the rest of the boundary line, then the headers) with the parser Go's
// multipart reader uses, so that folded lines and repeated headers are
// seen as it sees them.
func (g *fileNameGuard) checkHeader(block string) {
	_, lines, _ := strings.Cut(block, "\r\n")
	header, err := textproto.NewReader(bufio.NewReader(strings.NewReader(lines + "\r\n\r\n"))).ReadMIMEHeader()
	if err != nil {
		g.refuse(msgBadPartHeader) // Go's parser would refuse it too
		return
	}
	for _, value := range header.Values("Content-Disposition") {
		_, params, err := mime.ParseMediaType(value)
		if err != nil {
			continue // Go's parser takes such a part as a field without a file
		}
		if filename, ok := params["filename"]; ok && !safeFileName(filename) {
			g.refuse(msgUnsafeFileName)
		}
	}
}

// refuse records the first reason to refuse the request.
func (g *fileNameGuard) refuse(msg string) {
	g.refused.CompareAndSwap(nil, &msg)
}
