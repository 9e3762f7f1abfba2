// Package media stores uploaded images and videos: on Cloudinary when
// CLOUDINARY_URL is set, else on local disk under the data directory. What
// a file is, is decided by its bytes, never by the name or the header the
// client sent.
package media

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/media"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/user"
)

// Store keeps a file and says where it can be fetched.
type Store interface {
	// Put stores r (of the given kind, extension like ".png") and returns
	// its public URL and the provider's id for it.
	Put(ctx context.Context, r io.Reader, kind media.MediaType, ext string) (url, providerID string, err error)
	// Delete removes a file Put stored, by its provider id.
	Delete(ctx context.Context, kind media.MediaType, providerID string) error
	Provider() media.Provider
}

// Limits are the largest files accepted, per kind, and what one user may
// upload.
type Limits struct {
	MaxImageBytes, MaxVideoBytes int64
	// UploadsPerHour is how many files a user may upload an hour, refused
	// ones included; 0: no limit.
	UploadsPerHour int
	// QuotaBytes is how much a user may keep stored in all; 0: no quota.
	QuotaBytes int64
}

// Service accepts uploads.
type Service struct {
	client  *ent.Client
	store   Store
	limiter *auth.RateLimiter
	limits  Limits
	// rowLocks: lock the owner's row while checking the quota
	// (PostgreSQL). SQLite serialises write transactions instead.
	rowLocks bool
}

// NewService returns the media service.
func NewService(client *ent.Client, store Store, limiter *auth.RateLimiter, limits Limits, rowLocks bool) *Service {
	return &Service{client: client, store: store, limiter: limiter, limits: limits, rowLocks: rowLocks}
}

// Uploaded is a stored upload as the API shows it.
type Uploaded struct {
	ID        pulid.ID
	MediaURL  string
	MediaType string // IMAGE or VIDEO
	Bytes     int64
	Record    *ent.Media
}

// Upload stores a file of an owner and records it. Only images and videos
// are accepted, sniffed from their first bytes; a file over its kind's
// limit or the owner's quota is refused with PAYLOAD_TOO_LARGE and nothing
// is kept. So is a request whose file name held a path (see
// GuardFileNames). Past UploadsPerHour, uploads are RATE_LIMITED.
func (s *Service) Upload(ctx context.Context, owner pulid.ID, r io.Reader) (*Uploaded, error) {
	if err := checkFileName(ctx); err != nil {
		return nil, err
	}
	if s.limits.UploadsPerHour > 0 {
		if err := s.limiter.Allow(ctx, auth.Limit{Name: "upload", Max: s.limits.UploadsPerHour, Window: time.Hour}, string(owner)); err != nil {
			return nil, err
		}
	}
	// Both routes hand over a file the request parser has kept (in memory
	// or on disk), so its size is known before anything is stored.
	size := int64(-1)
	if seeker, ok := r.(io.Seeker); ok {
		var err error
		if size, err = seekSize(seeker); err != nil {
			return nil, fmt.Errorf("media: size: %w", err)
		}
	}
	// The quota is checked before a byte is stored, and again, under a
	// lock, in the transaction that records the file (see record).
	if err := s.checkQuota(ctx, s.client, owner, max(size, 1)); err != nil { // size unknown: a byte at least
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
	if size > limit {
		return nil, tooLarge(kind, limit)
	}
	counted := &countingReader{r: io.LimitReader(br, limit+1)}
	url, providerID, err := s.store.Put(ctx, &limitedReader{counted, limit}, kind, ext)
	if counted.n > limit {
		return nil, tooLarge(kind, limit)
	}
	if err != nil {
		return nil, err
	}
	m, err := s.record(ctx, owner, kind, url, providerID, counted.n)
	if err != nil {
		// Refused (a parallel upload took the rest of the quota) or not
		// recorded: the file must not outlive its record.
		if derr := s.store.Delete(context.WithoutCancel(ctx), kind, providerID); derr != nil {
			err = errors.Join(err, fmt.Errorf("media: remove unrecorded upload %s: %w", providerID, derr))
		}
		return nil, err
	}
	return Shown(m)[0], nil
}

// Shown is how the API shows stored uploads.
func Shown(records ...*ent.Media) []*Uploaded {
	out := make([]*Uploaded, len(records))
	for i, m := range records {
		out[i] = &Uploaded{ID: m.ID, MediaURL: m.URL, MediaType: string(m.MediaType), Bytes: m.Bytes, Record: m}
	}
	return out
}

// record saves a stored file's record once the owner's quota is checked
// again, in the same transaction and under a lock on the owner, so two
// parallel uploads cannot both take the last of it.
func (s *Service) record(ctx context.Context, owner pulid.ID, kind media.MediaType, url, providerID string, size int64) (*ent.Media, error) {
	var m *ent.Media
	err := s.client.WithTx(ctx, func(tx *ent.Tx) error {
		if s.limits.QuotaBytes > 0 && s.rowLocks {
			if _, err := tx.User.Query().Where(user.ID(owner)).ForUpdate().Only(ctx); err != nil {
				return fmt.Errorf("media: lock owner: %w", err)
			}
		}
		if err := s.checkQuota(ctx, tx.Client(), owner, size); err != nil {
			return err
		}
		var err error
		m, err = tx.Media.Create().SetOwnerID(owner).SetURL(url).SetMediaType(kind).
			SetBytes(size).SetProvider(s.store.Provider()).SetProviderID(providerID).Save(ctx)
		return err
	})
	return m, err
}

// checkQuota refuses a file of size bytes that would take the owner past
// the quota, counting what their records say they keep.
func (s *Service) checkQuota(ctx context.Context, client *ent.Client, owner pulid.ID, size int64) error {
	if s.limits.QuotaBytes <= 0 {
		return nil
	}
	var used []struct {
		Sum sql.NullInt64 `json:"sum"`
	}
	err := client.Media.Query().Where(media.OwnerID(owner)).
		Aggregate(ent.As(ent.Sum(media.FieldBytes), "sum")).Scan(ctx, &used)
	if err != nil {
		return fmt.Errorf("media: quota: %w", err)
	}
	left := s.limits.QuotaBytes
	if len(used) > 0 {
		left -= used[0].Sum.Int64
	}
	if size <= left {
		return nil
	}
	return payloadTooLarge("Storage quota exceeded: each user may keep %s of uploads, and %s are left",
		megabytes(s.limits.QuotaBytes), megabytes(max(left, 0)))
}

// megabytes writes n bytes for people: "200 MB", "0.3 MB".
func megabytes(n int64) string {
	return strconv.FormatFloat(math.Round(float64(n)/(1<<20)*10)/10, 'f', -1, 64) + " MB"
}

// seekSize is how many bytes a seekable file has from where it stands.
func seekSize(f io.Seeker) (int64, error) {
	at, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(at, io.SeekStart); err != nil {
		return 0, err
	}
	return end - at, nil
}

// ErrTooLarge is what a store sees when a file grows past its limit: it
// must then keep nothing.
var ErrTooLarge = errors.New("media: file too large")

func tooLarge(kind media.MediaType, limit int64) error {
	return payloadTooLarge("File too large: %s uploads are limited to %d MB", strings.ToLower(string(kind)), limit>>20)
}

func payloadTooLarge(format string, args ...any) error {
	return &jobsphere.Error{Code: "PAYLOAD_TOO_LARGE", Message: fmt.Sprintf(format, args...)}
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
