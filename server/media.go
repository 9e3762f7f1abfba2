package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/media"
)

// handleMediaUpload serves POST /api/media/upload, the seed's REST route:
// multipart field "media" → {"mediaUrl": …, "mediaType": "image"|"video"}.
// Unlike the seed's, it needs a valid access token.
func handleMediaUpload(svc *media.Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := auth.ViewerFrom(r.Context())
		if err != nil {
			respondServiceError(w, err)
			return
		}
		file, _, err := r.FormFile("media")
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				respondServiceError(w, &jobsphere.Error{Code: "PAYLOAD_TOO_LARGE", Message: "File too large"})
				return
			}
			respondServiceError(w, jobsphere.InvalidInput(jobsphere.FieldError{Field: "media", Message: "Send the file as the multipart/form-data field media"}))
			return
		}
		defer file.Close()
		up, err := svc.Upload(r.Context(), v.UserID, file)
		if err != nil {
			respondServiceError(w, err)
			return
		}
		respondJSON(w, http.StatusOK, map[string]string{"mediaUrl": up.MediaURL, "mediaType": strings.ToLower(up.MediaType)})
	})
}

// serveMedia serves local uploads: files only (no listings, no temporary
// files being written).
func serveMedia(dir string) http.Handler {
	files := http.StripPrefix("/media/", http.FileServer(http.Dir(dir)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/media/")
		if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
