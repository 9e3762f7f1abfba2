package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"

	"github.com/jobsphere/jobsphere/ent/media"
)

// Local keeps files under a directory, served at PublicURL + "/media/".
// Names are random (the client's file name is never used), and a file is
// written to a temporary name and renamed only when complete, so a reader
// never sees half a file.
type Local struct {
	Dir       string
	PublicURL string
}

// Provider implements Store.
func (*Local) Provider() media.Provider { return media.ProviderLOCAL }

// Put implements Store.
func (l *Local) Put(_ context.Context, r io.Reader, _ media.MediaType, ext string) (string, string, error) {
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.CreateTemp(l.Dir, ".upload-*")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return "", "", err
	}
	if err := tmp.Close(); err != nil {
		return "", "", err
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	name := hex.EncodeToString(b) + ext
	if err := os.Rename(tmp.Name(), filepath.Join(l.Dir, name)); err != nil {
		return "", "", err
	}
	return l.PublicURL + "/media/" + name, name, nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, _ media.MediaType, name string) error {
	return os.Remove(filepath.Join(l.Dir, name))
}
