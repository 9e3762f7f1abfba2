package media

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"testing/iotest"
)

// TestGuardFileNames: the guard sees the raw name however the body is cut
// into reads and however the part header is written (folded, padded), it
// refuses a part header too big to read whole, and it reads the body
// through unchanged.
func TestGuardFileNames(t *testing.T) {
	disposition := func(name string) string {
		return `form-data; name="0"; filename="` + name + `"`
	}
	for _, tc := range []struct {
		what   string
		header textproto.MIMEHeader
		want   string // the refusal's message, "" for none
	}{
		{"a plain name", textproto.MIMEHeader{"Content-Disposition": {disposition("photo.png")}}, ""},
		{"spaces and brackets", textproto.MIMEHeader{"Content-Disposition": {disposition("my holiday (1).png")}}, ""},
		{"parent directories", textproto.MIMEHeader{"Content-Disposition": {disposition("../../etc/passwd.png")}}, msgUnsafeFileName},
		{"an absolute path", textproto.MIMEHeader{"Content-Disposition": {disposition("/etc/passwd")}}, msgUnsafeFileName},
		{"a Windows path", textproto.MIMEHeader{"Content-Disposition": {disposition(`..\evil.png`)}}, msgUnsafeFileName},
		{"..", textproto.MIMEHeader{"Content-Disposition": {disposition("..")}}, msgUnsafeFileName},
		{"a tab", textproto.MIMEHeader{"Content-Disposition": {disposition("a\t.png")}}, msgUnsafeFileName},
		{"a NUL", textproto.MIMEHeader{"Content-Disposition": {disposition("a\x00.png")}}, msgBadPartHeader}, // Go's parser refuses it too
		{"RFC 2231 encoded", textproto.MIMEHeader{"Content-Disposition": {`form-data; name="0"; filename*=UTF-8''..%2F..%2Fx.png`}}, msgUnsafeFileName},
		{"a folded header", textproto.MIMEHeader{"Content-Disposition": {"form-data; name=\"0\";\r\n filename=\"../../x.png\""}}, msgUnsafeFileName},
		{"a second Content-Disposition", textproto.MIMEHeader{"Content-Disposition": {disposition("a.png"), disposition("../a.png")}}, msgUnsafeFileName},
		{"15 KB of padding first", textproto.MIMEHeader{"A-Pad": {strings.Repeat("p", 15<<10)}, "Content-Disposition": {disposition("a.png")}}, ""},
		{"17 KB of padding first", textproto.MIMEHeader{"A-Pad": {strings.Repeat("p", 17<<10)}, "Content-Disposition": {disposition("../../etc/x.png")}}, msgPartHeaderTooLarge},
		{"17 KB of padding, a plain name", textproto.MIMEHeader{"A-Pad": {strings.Repeat("p", 17<<10)}, "Content-Disposition": {disposition("x.png")}}, msgPartHeaderTooLarge},
	} {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		_ = w.WriteField("operations", `{"query":"mutation { x }"}`)
		part, err := w.CreatePart(tc.header) // headers in name order: A-Pad first
		if err != nil {
			t.Fatal(err)
		}
		_, _ = part.Write(bytes.Repeat([]byte("\r\n\r\n-"), 1000)) // header-like bytes inside the file
		_ = w.Close()
		want := body.Bytes()

		for _, read := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r },
			iotest.OneByteReader,
			iotest.HalfReader,
		} {
			req, _ := http.NewRequest(http.MethodPost, "/graphql", io.NopCloser(read(bytes.NewReader(want))))
			req.Header.Set("Content-Type", w.FormDataContentType())
			guarded := GuardFileNames(req)
			got, err := io.ReadAll(guarded.Body)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: body changed by the guard (%v)", tc.what, err)
			}
			refusal := ""
			if err := checkFileName(guarded.Context()); err != nil {
				refusal = err.Error()
			}
			if (tc.want == "") != (refusal == "") || !strings.Contains(refusal, tc.want) {
				t.Errorf("%s: refusal %q, want %q", tc.what, refusal, tc.want)
			}
		}
	}
}
