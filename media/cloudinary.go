package media

import (
	"context"
	"fmt"
	"io"

	"github.com/cloudinary/cloudinary-go/v2"
	"github.com/cloudinary/cloudinary-go/v2/api/uploader"

	"github.com/jobsphere/jobsphere/ent/media"
)

// Cloudinary keeps files on Cloudinary: images as "image", everything else
// as "video", as the seed's backend did.
type Cloudinary struct {
	cld *cloudinary.Cloudinary
}

// NewCloudinary connects with a CLOUDINARY_URL
// (cloudinary://key:secret@cloud; tests add ?upload_prefix=…).
func NewCloudinary(url string) (*Cloudinary, error) {
	cld, err := cloudinary.NewFromURL(url)
	if err != nil {
		return nil, fmt.Errorf("media: CLOUDINARY_URL: %w", err)
	}
	return &Cloudinary{cld: cld}, nil
}

// Provider implements Store.
func (*Cloudinary) Provider() media.Provider { return media.ProviderCLOUDINARY }

// resourceType is Cloudinary's name for a kind of file.
func resourceType(kind media.MediaType) string {
	if kind == media.MediaTypeIMAGE {
		return "image"
	}
	return "video"
}

// Put implements Store.
func (c *Cloudinary) Put(ctx context.Context, r io.Reader, kind media.MediaType, _ string) (string, string, error) {
	res, err := c.cld.Upload.Upload(ctx, r, uploader.UploadParams{ResourceType: resourceType(kind), Folder: "jobsphere"})
	if err != nil {
		return "", "", fmt.Errorf("media: cloudinary upload: %w", err)
	}
	if res.Error.Message != "" {
		return "", "", fmt.Errorf("media: cloudinary upload: %s", res.Error.Message)
	}
	return res.SecureURL, res.PublicID, nil
}

// Delete implements Store.
func (c *Cloudinary) Delete(ctx context.Context, kind media.MediaType, publicID string) error {
	res, err := c.cld.Upload.Destroy(ctx, uploader.DestroyParams{PublicID: publicID, ResourceType: resourceType(kind)})
	if err != nil {
		return fmt.Errorf("media: cloudinary destroy: %w", err)
	}
	if res.Error.Message != "" {
		return fmt.Errorf("media: cloudinary destroy: %s", res.Error.Message)
	}
	return nil
}
