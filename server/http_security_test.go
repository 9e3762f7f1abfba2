package server_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/ent/media"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/server/servertest"
)

// The HTTP layer under attack by real clients: bodies that never finish,
// uploads without end, a metrics page anyone can read, and part headers
// too big for the file-name guard.

// mediaRows counts the media records of an owner.
func mediaRows(t *testing.T, srv *servertest.Server, owner string) int {
	t.Helper()
	return srv.App.Client.Media.Query().Where(media.OwnerID(pulid.ID(owner))).CountX(context.Background())
}

// bigHeaderUpload is a multipart upload whose file part has a 17 KB
// header before its Content-Disposition: more than the file-name guard
// keeps of a part header.
func bigHeaderUpload(field, fileName string, data []byte, graphQL bool) (contentType string, body []byte) {
	const boundary = "bigheaderboundary"
	var b bytes.Buffer
	if graphQL {
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n" +
			`{"query":"mutation($f: Upload!) { uploadMedia(file: $f) { mediaUrl } }","variables":{"f":null}}` + "\r\n")
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n" + `{"0":["variables.f"]}` + "\r\n")
	}
	b.WriteString("--" + boundary + "\r\nX-Padding: " + strings.Repeat("p", 17<<10) + "\r\n")
	b.WriteString("Content-Disposition: form-data; name=\"" + field + "\"; filename=\"" + fileName + "\"\r\nContent-Type: image/png\r\n\r\n")
	b.Write(data)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return "multipart/form-data; boundary=" + boundary, b.Bytes()
}

// TestBigPartHeaderCannotHideAFileName: a part header too big for the
// guard to read is refused with BAD_USER_INPUT (REST: 400), whatever the
// name behind it, and nothing is stored.
func TestBigPartHeaderCannotHideAFileName(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	u := srv.Register(t, "CUSTOMER")
	img := pngBytes(t, 8)
	for _, name := range []string{"../../etc/x.png", "x.png"} {
		contentType, body := bigHeaderUpload("0", name, img, true)
		r := srv.Client(u.AccessToken).Post(t, contentType, bytes.NewReader(body))
		if len(r.Errors) != 1 || r.Errors[0].Code() != "BAD_USER_INPUT" {
			t.Errorf("GraphQL upload named %q behind a 17 KB header: %s %s", name, r.Data, r.ErrorSummary())
		}
		contentType, body = bigHeaderUpload("media", name, img, false)
		status, _, raw := secRequest(t, http.MethodPost, srv.URL+"/api/media/upload", contentType, body, false,
			http.Header{"Authorization": {"Bearer " + u.AccessToken}})
		if status != http.StatusBadRequest || secErrorCode(raw) != "BAD_USER_INPUT" {
			t.Errorf("REST upload named %q behind a 17 KB header: %d %s", name, status, raw)
		}
	}
	if files := mediaFiles(t, srv); len(files) != 0 || mediaRows(t, srv, u.ID) != 0 {
		t.Errorf("stored: %v", files)
	}
}
