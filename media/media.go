// Package media stores uploaded images and videos: on Cloudinary when
// CLOUDINARY_URL is set, else on local disk under the data directory. What
// a file is, is decided by its bytes, never by the name or the header the
// client sent.
package media

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/media"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Store keeps a file and says where it can be fetched.
type Store interface {
	// Put stores r (of the given kind, extension like ".png") and returns
	// its public URL and the provider's id for it.
	Put(ctx context.Context, r io.Reader, kind media.MediaType, ext string) (url, providerID string, err error)
	Provider() media.Provider
}

// Limits are the largest files accepted, per kind.
type Limits struct {
	MaxImageBytes, MaxVideoBytes int64
}

// Service accepts uploads.
type Service struct {
	client *ent.Client
	store  Store
	limits Limits
}

// NewService returns the media service.
func NewService(client *ent.Client, store Store, limits Limits) *Service {
	return &Service{client: client, store: store, limits: limits}
}

// Uploaded is a stored upload as the API shows it.
type Uploaded struct {
	MediaURL  string
	MediaType string // IMAGE or VIDEO
	Bytes     int64
	Record    *ent.Media
}

// Upload stores a file of an owner and records it. Only images and videos
// are accepted, sniffed from their first bytes; a file over its kind's
// limit is refused with PAYLOAD_TOO_LARGE and nothing is kept. So is a
// request whose file name held a path (see GuardFileNames).
func (s *Service) Upload(ctx context.Context, owner pulid.ID, r io.Reader) (*Uploaded, error) {
	if err := checkFileName(ctx); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 512)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("media: read: %w", err)
	}
	contentType := http.DetectContentType(head)
	kind, ext, ok := classify(contentType)
	if !ok || len(head) == 0 {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "file", Message: "Unsupported media type: upload an image or a video"})
	}
	limit := s.limits.MaxImageBytes
	if kind == media.MediaTypeVIDEO {
		limit = s.limits.MaxVideoBytes
	}
	counted := &countingReader{r: io.LimitReader(br, limit+1)}
	url, providerID, err := s.store.Put(ctx, &limitedReader{counted, limit}, kind, ext)
	if counted.n > limit {
		return nil, tooLarge(kind, limit)
	}
	if err != nil {
		return nil, err
	}
	m, err := s.client.Media.Create().SetOwnerID(owner).SetURL(url).SetMediaType(kind).
		SetBytes(counted.n).SetProvider(s.store.Provider()).SetProviderID(providerID).Save(ctx)
	if err != nil {
		return nil, err
	}
	return &Uploaded{MediaURL: m.URL, MediaType: string(m.MediaType), Bytes: m.Bytes, Record: m}, nil
}

// ErrTooLarge is what a store sees when a file grows past its limit: it
// must then keep nothing.
var ErrTooLarge = fmt.Errorf("media: file too large")

func tooLarge(kind media.MediaType, limit int64) error {
	return &jobsphere.Error{Code: "PAYLOAD_TOO_LARGE",
		Message: fmt.Sprintf("File too large: %s uploads are limited to %d MB", strings.ToLower(string(kind)), limit>>20)}
}

// classify maps a sniffed content type to a kind and a file extension.
func classify(contentType string) (media.MediaType, string, bool) {
	base, _, _ := strings.Cut(contentType, ";")
	switch base {
	case "image/png":
		return media.MediaTypeIMAGE, ".png", true
	case "image/jpeg":
		return media.MediaTypeIMAGE, ".jpg", true
	case "image/gif":
		return media.MediaTypeIMAGE, ".gif", true
	case "image/webp":
		return media.MediaTypeIMAGE, ".webp", true
	case "image/bmp":
		return media.MediaTypeIMAGE, ".bmp", true
	case "video/mp4":
		return media.MediaTypeVIDEO, ".mp4", true
	case "video/webm":
		return media.MediaTypeVIDEO, ".webm", true
	case "video/avi":
		return media.MediaTypeVIDEO, ".avi", true
	}
	return "", "", false
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// limitedReader fails with ErrTooLarge once more than limit bytes came.
type limitedReader struct {
	c     *countingReader
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.c.Read(p)
	if l.c.n > l.limit {
		return n, ErrTooLarge
	}
	return n, err
}
