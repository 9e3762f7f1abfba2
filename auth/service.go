package auth

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/audit"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent"
	"github.com/jobsphere/jobsphere/ent/refreshtoken"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/ledger"
)

// Config is what the auth service needs from the configuration.
type Config struct {
	JWTSecret       []byte
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	BcryptCost      int
	// RegisterPerAddress and LoginPerAddress are how many sign-ups an hour
	// and sign-ins a quarter hour one client address may make; 0: no limit.
	RegisterPerAddress, LoginPerAddress int
}

// Service signs users up and in.
type Service struct {
	client  *ent.Client
	wallets *ledger.Ledger // opens each new user's wallet
	cfg     Config
	now     func() time.Time
	// dummyHash is compared against when the email is unknown, so a login
	// takes as long whether or not the account exists.
	dummyHash []byte
	limiter   *RateLimiter
}

// NewService returns the auth service; wallets opens each new user's
// wallet.
func NewService(client *ent.Client, wallets *ledger.Ledger, cfg Config) (*Service, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("not-a-real-password-0"), cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Service{client: client, wallets: wallets, cfg: cfg, now: time.Now, dummyHash: dummy, limiter: NewRateLimiter(client)}, nil
}

// Tokens is a freshly issued access and refresh token pair.
type Tokens struct {
	AccessToken          string
	RefreshToken         string
	AccessTokenExpiresAt time.Time
}

// Session is a signed-in user with their tokens.
type Session struct {
	User   *ent.User
	Tokens Tokens
}

// RegisterInput is what a new user gives.
type RegisterInput struct {
	Email, Password, Name string
	Role                  role.Role
}

// Messages shared by several operations.
const (
	msgInvalidCredentials = "Invalid email or password"
	msgInvalidRefresh     = "Invalid or expired refresh token. Please sign in again"
)

// Register creates a customer or contractor with their wallet and signs
// them in.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*Session, error) {
	email, name, err := validateRegistration(in)
	if err != nil {
		return nil, err
	}
	if in.Role == role.Admin {
		return nil, jobsphere.InvalidInput(jobsphere.FieldError{Field: "role", Message: "Role must be customer or contractor"})
	}
	if err := s.allowFromAddress(ctx, Limit{Name: "register", Max: s.cfg.RegisterPerAddress, Window: time.Hour}); err != nil {
		return nil, err
	}
	return s.createUser(ctx, email, in.Password, name, in.Role)
}

// CreateAdmin makes an admin account; it is for operators (the CLI), never
// exposed to the API.
func (s *Service) CreateAdmin(ctx context.Context, email, password, name string) (*ent.User, error) {
	email, name, err := validateRegistration(RegisterInput{Email: email, Password: password, Name: name})
	if err != nil {
		return nil, err
	}
	sess, err := s.createUser(ctx, email, password, name, role.Admin)
	if err != nil {
		return nil, err
	}
	return sess.User, nil
}

func (s *Service) createUser(ctx context.Context, email, password, name string, r role.Role) (*Session, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth: hash password: %w", err)
	}
	var sess *Session
	err = s.client.WithTx(ctx, func(etx *ent.Tx) error {
		tx := etx.Client()
		u, err := tx.User.Create().
			SetEmail(email).SetPasswordHash(string(hash)).SetName(name).SetRole(r).
			Save(ctx)
		if ent.IsConstraintError(err) {
			return jobsphere.InvalidInput(jobsphere.FieldError{Field: "email", Message: "User already exists with this email"})
		}
		if err != nil {
			return err
		}
		if _, err := s.wallets.OpenWallet(ctx, tx, u.ID); err != nil {
			return err
		}
		if r == role.Admin {
			// Nobody is signed in at the command line: the new admin is
			// the actor of its own creation (docs/operations.md, "Audit log").
			err := audit.Record(ctx, tx, audit.Entry{Actor: u.ID, Action: audit.CreateAdmin, Target: u.ID,
				After: string(r), Reason: "created with jobsphere admin create"})
			if err != nil {
				return err
			}
		}
		sess, err = s.startSession(ctx, tx, u, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	sess.User = sess.User.Unwrap() // made in the committed transaction: its edges load through the client
	return sess, nil
}

// Login checks an email and password. Which of the two was wrong is
// never told.
func (s *Service) Login(ctx context.Context, email, password string) (*Session, error) {
	if err := s.allowFromAddress(ctx, Limit{Name: "login-ip", Max: s.cfg.LoginPerAddress, Window: 15 * time.Minute}); err != nil {
		return nil, err
	}
	email = normalizeEmail(email)
	// Failures are counted: every attempt is, and a success is taken back.
	counted := []struct {
		limit   Limit
		subject string
	}{{LoginLimit, email + " " + ClientIP(ctx)}, {LoginCeiling, email}}
	for _, c := range counted {
		if err := s.limiter.Allow(ctx, c.limit, c.subject); err != nil {
			return nil, err
		}
	}
	u, err := s.client.User.Query().Where(user.Email(email)).Only(ctx)
	if ent.IsNotFound(err) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, []byte(password))
		return nil, jobsphere.Errorf(jobsphere.Unauthenticated, msgInvalidCredentials)
	}
	if err != nil {
		return nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return nil, jobsphere.Errorf(jobsphere.Unauthenticated, msgInvalidCredentials)
	}
	for _, c := range counted {
		if err := s.limiter.Forget(ctx, c.limit, c.subject); err != nil {
			return nil, err
		}
	}
	return s.startSession(ctx, s.client, u, "")
}

// Refresh trades a refresh token for a new pair. A token works once: a
// second use means it was stolen or replayed, so the whole family — every
// token rotated from the same sign-in — is revoked.
func (s *Service) Refresh(ctx context.Context, token string) (*Session, error) {
	rt, err := s.client.RefreshToken.Query().
		Where(refreshtoken.TokenHash(hashRefreshToken(token))).
		WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, jobsphere.Errorf(jobsphere.Unauthenticated, msgInvalidRefresh)
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if rt.UsedAt != nil || rt.RevokedAt != nil {
		if err := s.revokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, err
		}
		return nil, jobsphere.Errorf(jobsphere.Unauthenticated, msgInvalidRefresh)
	}
	if now.After(rt.ExpiresAt) {
		return nil, jobsphere.Errorf(jobsphere.Unauthenticated, msgInvalidRefresh)
	}
	var sess *Session
	err = s.client.WithTx(ctx, func(etx *ent.Tx) error {
		tx := etx.Client()
		// Conditional on the token still being live: of two concurrent
		// uses only one rotates.
		n, err := tx.RefreshToken.Update().
			Where(refreshtoken.ID(rt.ID), refreshtoken.UsedAtIsNil(), refreshtoken.RevokedAtIsNil()).
			SetUsedAt(now).Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errTokenReused
		}
		sess, err = s.startSession(ctx, tx, rt.Edges.User, rt.FamilyID)
		return err
	})
	if err == errTokenReused {
		if err := s.revokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, err
		}
		return nil, jobsphere.Errorf(jobsphere.Unauthenticated, msgInvalidRefresh)
	}
	return sess, err
}

var errTokenReused = fmt.Errorf("refresh token reused")

// Logout revokes the token's family.
func (s *Service) Logout(ctx context.Context, token string) error {
	rt, err := s.client.RefreshToken.Query().
		Where(refreshtoken.TokenHash(hashRefreshToken(token))).Only(ctx)
	if ent.IsNotFound(err) {
		return jobsphere.Errorf(jobsphere.Unauthenticated, msgInvalidRefresh)
	}
	if err != nil {
		return err
	}
	return s.revokeFamily(ctx, rt.FamilyID)
}

func (s *Service) revokeFamily(ctx context.Context, family string) error {
	return s.client.RefreshToken.Update().
		Where(refreshtoken.FamilyID(family), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(s.now()).Exec(ctx)
}

// startSession issues an access token and a refresh token; an empty
// family starts a new one (a sign-in), otherwise it continues a rotation.
func (s *Service) startSession(ctx context.Context, client *ent.Client, u *ent.User, family string) (*Session, error) {
	access, exp, err := s.issueAccessToken(u.ID, u.Role)
	if err != nil {
		return nil, err
	}
	token, hash, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	if family == "" {
		family = string(pulid.New("fam"))
	}
	err = client.RefreshToken.Create().
		SetUserID(u.ID).SetTokenHash(hash).SetFamilyID(family).
		SetExpiresAt(s.now().Add(s.cfg.RefreshTokenTTL)).
		Exec(ctx)
	if err != nil {
		return nil, err
	}
	return &Session{User: u, Tokens: Tokens{AccessToken: access, RefreshToken: token, AccessTokenExpiresAt: exp}}, nil
}

// normalizeEmail is the one form of an email, at sign-up and sign-in
// alike: NFKC (full-width "ｄ" is "d"), without invisible format
// characters (zero-width spaces, soft hyphens, direction marks), lower
// case and trimmed. validEmail then refuses what is not ASCII, so a
// look-alike in another script (a Cyrillic "е") is no second account.
func normalizeEmail(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, norm.NFKC.String(s))
	return strings.ToLower(strings.TrimSpace(s))
}

// validateRegistration checks every field and reports all problems at
// once; it returns the normalized email and name.
func validateRegistration(in RegisterInput) (email, name string, err error) {
	var fields []jobsphere.FieldError
	email = normalizeEmail(in.Email)
	if !validEmail(email) {
		fields = append(fields, jobsphere.FieldError{Field: "email", Message: "Please provide a valid email address"})
	}
	if !strongPassword(in.Password) {
		fields = append(fields, jobsphere.FieldError{Field: "password", Message: "Password must be 8 to 72 characters long and contain at least one letter and one number"})
	}
	name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(name); n < 2 || n > 100 {
		fields = append(fields, jobsphere.FieldError{Field: "name", Message: "Name must be between 2 and 100 characters"})
	} else if strings.ContainsAny(name, "\t\n\r") {
		fields = append(fields, jobsphere.FieldError{Field: "name", Message: "Name must be on one line"})
	}
	if len(fields) > 0 {
		return "", "", jobsphere.InvalidInput(fields...)
	}
	return email, name, nil
}

func validEmail(s string) bool {
	if len(s) > 254 || !ascii(s) {
		return false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return strings.Contains(domain, ".") && !strings.HasSuffix(domain, ".")
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// strongPassword: bcrypt reads at most 72 bytes, so longer passwords are
// refused rather than silently truncated.
func strongPassword(p string) bool {
	if utf8.RuneCountInString(p) < 8 || len(p) > 72 {
		return false
	}
	var letter, digit bool
	for _, r := range p {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	return letter && digit
}

// Me returns the signed-in viewer's user.
func (s *Service) Me(ctx context.Context, v Viewer) (*ent.User, error) {
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", v.UserID, err)
	}
	return u, nil
}
