// Package auth signs users up and in: password hashing, short-lived JWT
// access tokens, rotating single-use refresh tokens, and the request's
// viewer.
package auth

import (
	"context"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// Viewer is who is making the request.
type Viewer struct {
	UserID pulid.ID
	Role   role.Role
	// ExpiresAt is when the access token that identified the viewer
	// expires; a websocket authenticated by it closes then.
	ExpiresAt time.Time
}

// IsAdmin reports whether the viewer is an admin.
func (v Viewer) IsAdmin() bool { return v.Role == role.Admin }

// Is reports whether the viewer is one of users, or an admin: the rule
// "the object's own people, and admins" that most objects follow.
func (v Viewer) Is(users ...pulid.ID) bool {
	return v.IsAdmin() || slices.Contains(users, v.UserID)
}

// Whose is whose records a viewer asks for with an optional user id (a
// statement, an export): their own when userID is nil or theirs, anyone's
// for an admin, and FORBIDDEN otherwise.
func (v Viewer) Whose(userID *pulid.ID) (pulid.ID, error) {
	if userID == nil {
		return v.UserID, nil
	}
	if !v.Is(*userID) {
		return "", NotAuthorized()
	}
	return *userID, nil
}

// NotAuthorized is the FORBIDDEN every refused viewer gets: signed in,
// but not one who may do this.
func NotAuthorized() error { return jobsphere.Errorf(jobsphere.Forbidden, "Not authorized") }

type viewerKey struct{}

// viewerState is what the request's credentials said: a viewer, or why
// there is none (so a protected field can say "token expired" rather
// than just "not signed in").
type viewerState struct {
	viewer *Viewer
	err    error
}

// WithViewer returns a context carrying the signed-in viewer.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, viewerState{viewer: &v})
}

// WithCredentialError returns a context whose request presented a token
// that did not verify.
func WithCredentialError(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, viewerKey{}, viewerState{err: err})
}

// ViewerFrom returns the signed-in viewer, or an UNAUTHENTICATED error.
func ViewerFrom(ctx context.Context) (Viewer, error) {
	s, _ := ctx.Value(viewerKey{}).(viewerState)
	if s.viewer != nil {
		return *s.viewer, nil
	}
	if s.err != nil {
		return Viewer{}, s.err
	}
	return Viewer{}, jobsphere.Errorf(jobsphere.Unauthenticated, "Authentication required. Please sign in")
}

// Scope is the rows of a query a viewer may see: those own selects for a
// user, every row for an admin.
func Scope[P ~func(*sql.Selector)](v Viewer, own P) P {
	if v.IsAdmin() {
		return func(*sql.Selector) {}
	}
	return own
}
