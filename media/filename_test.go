package media

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"testing"
	"testing/iotest"
)

// TestGuardFileNames: the guard sees the raw name however the body is cut
// into reads, and reads the body through unchanged.
func TestGuardFileNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		unsafe bool
	}{
		{"photo.png", false},
		{"my holiday (1).png", false},
		{"../../etc/passwd.png", true},
		{"/etc/passwd", true},
		{`..\evil.png`, true},
		{"..", true},
		{"a\x00.png", true},
	} {
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		_ = w.WriteField("operations", `{"query":"mutation { x }"}`)
		part, _ := w.CreateFormFile("0", tc.name)
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
				t.Fatalf("%q: body changed by the guard (%v)", tc.name, err)
			}
			if refused := checkFileName(guarded.Context()) != nil; refused != tc.unsafe {
				t.Errorf("%q: refused=%v, want %v", tc.name, refused, tc.unsafe)
			}
		}
	}
}
