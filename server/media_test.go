package server_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/server/servertest"
)

func pngBytes(t *testing.T, size int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	_, _ = rand.Read(img.Pix) // noise: it does not compress, so size is size

	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mp4Bytes is the start of an MP4 file: an ftyp box, then some data.
func mp4Bytes() []byte {
	return append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), bytes.Repeat([]byte{0, 1, 2, 3}, 256)...)
}

// uploadGraphQL sends the GraphQL multipart request an Apollo upload link
// or Flutter's http.MultipartFile sends.
func uploadGraphQL(t *testing.T, c *servertest.Client, name string, data []byte) servertest.Response {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadMedia(file: $f) { id mediaUrl mediaType bytes } }","variables":{"f":null}}`)
	_ = w.WriteField("map", `{"0":["variables.f"]}`)
	part, _ := w.CreateFormFile("0", name)
	_, _ = part.Write(data)
	_ = w.Close()
	return c.Post(t, w.FormDataContentType(), &body)
}

// uploadREST posts the seed's REST form: field "media".
func uploadREST(t *testing.T, srv *servertest.Server, token, name string, data []byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("media", name)
	_, _ = part.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/media/upload", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func mediaFiles(t *testing.T, srv *servertest.Server) []string {
	t.Helper()
	entries, err := os.ReadDir(srv.App.MediaDir())
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestLocalMediaUploads(t *testing.T) {
	env := servertest.Env(t, servertest.SQLite)
	env["MEDIA_MAX_IMAGE_BYTES"] = "20000"
	srv := servertest.Start(t, env)
	u := srv.Register(t, "CUSTOMER")
	c := srv.Client(u.AccessToken)

	// A real PNG over GraphQL, served back byte for byte.
	img := pngBytes(t, 16)
	r := uploadGraphQL(t, c, "passwd.png", img)
	var out struct {
		UploadMedia struct {
			MediaURL, MediaType string
			Bytes               int
		}
	}
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil {
		t.Fatalf("upload: %s %s", r.Data, r.ErrorSummary())
	}
	m := out.UploadMedia
	if m.MediaType != "IMAGE" || m.Bytes != len(img) || !strings.HasPrefix(m.MediaURL, srv.URL+"/media/") || strings.Contains(m.MediaURL, "passwd") {
		t.Fatalf("uploaded: %+v", m)
	}
	resp, body := srv.Get(t, strings.TrimPrefix(m.MediaURL, srv.URL))
	if resp.StatusCode != http.StatusOK || body != string(img) {
		t.Fatalf("served back: %d, %d bytes", resp.StatusCode, len(body))
	}

	// A real MP4 over the seed's REST route.
	code, rest := uploadREST(t, srv, u.AccessToken, "clip.mov", mp4Bytes())
	if code != http.StatusOK || rest["mediaType"] != "video" || !strings.HasPrefix(rest["mediaUrl"].(string), srv.URL+"/media/") {
		t.Fatalf("REST upload: %d %v", code, rest)
	}
	_, body = srv.Get(t, strings.TrimPrefix(rest["mediaUrl"].(string), srv.URL))
	if body != string(mp4Bytes()) {
		t.Fatal("video not served back byte for byte")
	}
	before := mediaFiles(t, srv)

	// Refusals leave nothing behind.
	uploadGraphQL(t, c, "notes.png", []byte("just some text, not an image")).RequireError(t, "BAD_USER_INPUT")
	uploadGraphQL(t, c, "big.png", pngBytes(t, 200)).RequireError(t, "PAYLOAD_TOO_LARGE")
	if code, _ := uploadREST(t, srv, u.AccessToken, "big.png", pngBytes(t, 200)); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("REST oversized: %d", code)
	}
	if code, _ := uploadREST(t, srv, u.AccessToken, "notes.png", []byte("plain text")); code != http.StatusBadRequest {
		t.Fatalf("REST text: %d", code)
	}
	if code, _ := uploadREST(t, srv, "", "a.png", img); code != http.StatusUnauthorized {
		t.Fatalf("REST without a token: %d", code)
	}
	uploadGraphQL(t, srv.Client(""), "a.png", img).RequireError(t, "UNAUTHENTICATED")
	for _, name := range []string{"../../etc/passwd.png", `..\\windows\\a.png`, "/tmp/a.png"} {
		uploadGraphQL(t, c, name, img).RequireError(t, "BAD_USER_INPUT")
		if code, out := uploadREST(t, srv, u.AccessToken, name, img); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(out), "Invalid file name") {
			t.Fatalf("REST %q: %d %v", name, code, out)
		}
	}
	if after := mediaFiles(t, srv); len(after) != len(before) {
		t.Fatalf("refused uploads left files: %v → %v", before, after)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(srv.App.MediaDir()), "..", "etc")); err == nil {
		t.Fatal("a path in the file name escaped the media directory")
	}
	if r, _ := srv.Get(t, "/media/"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("media listing: %d", r.StatusCode)
	}
}

// TestCloudinaryMediaUploads: through cloudinary-go against a stand-in for
// Cloudinary's upload API: the request is signed, and secure_url becomes
// mediaUrl.
func TestCloudinaryMediaUploads(t *testing.T) {
	const secret = "cld_secret"
	var resources []string
	cld := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			t.Errorf("parse: %v", err)
		}
		// Cloudinary's signature: SHA-1 of the sorted parameters and the secret.
		params := []string{}
		for _, k := range []string{"folder", "timestamp"} {
			params = append(params, k+"="+r.FormValue(k))
		}
		sum := sha1.Sum([]byte(strings.Join(params, "&") + secret))
		if r.FormValue("api_key") != "cld_key" || r.FormValue("signature") != hex.EncodeToString(sum[:]) {
			t.Errorf("unsigned or badly signed upload: %v", r.MultipartForm.Value)
		}
		// cloudinary-go posts to /v1_1/<cloud>/auto/upload with the
		// resource type as a parameter.
		resource := r.FormValue("resource_type")
		resources = append(resources, resource)
		f, _, _ := r.FormFile("file")
		n, _ := io.Copy(io.Discard, f)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"public_id": "jobsphere/abc", "bytes": n, "resource_type": resource,
			"secure_url": "https://res.cloudinary.example/demo/" + resource + "/upload/abc",
		})
	}))
	defer cld.Close()
	env := servertest.Env(t, servertest.SQLite)
	env["CLOUDINARY_URL"] = "cloudinary://cld_key:" + secret + "@demo?upload_prefix=" + cld.URL
	srv := servertest.Start(t, env)
	c := srv.Client(srv.Register(t, "CONTRACTOR").AccessToken)

	var out struct {
		UploadMedia struct{ MediaURL, MediaType string }
	}
	r := uploadGraphQL(t, c, "photo.png", pngBytes(t, 8))
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil || out.UploadMedia.MediaURL != "https://res.cloudinary.example/demo/image/upload/abc" {
		t.Fatalf("image: %s %s", r.Data, r.ErrorSummary())
	}
	r = uploadGraphQL(t, c, "clip.mp4", mp4Bytes())
	if len(r.Errors) > 0 || json.Unmarshal(r.Data, &out) != nil || out.UploadMedia.MediaType != "VIDEO" {
		t.Fatalf("video: %s %s", r.Data, r.ErrorSummary())
	}
	if strings.Join(resources, ",") != "image,video" {
		t.Fatalf("resource types: %v", resources)
	}
	if files := mediaFiles(t, srv); len(files) != 0 {
		t.Fatalf("cloudinary uploads written locally: %v", files)
	}
}
