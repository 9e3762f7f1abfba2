package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth/role"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

const issuer = "jobsphere"

// TokenExpiredMessage tells a client its access token has expired: on an
// HTTP request, and in the close frame of a websocket it authenticated.
const TokenExpiredMessage = "Access token expired. Please refresh your session"

// accessClaims are the claims of an access token.
type accessClaims struct {
	Role role.Role `json:"role"`
	jwt.RegisteredClaims
}

// issueAccessToken signs an HS256 access token for the user.
func (s *Service) issueAccessToken(userID pulid.ID, r role.Role) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.cfg.AccessTokenTTL)
	claims := accessClaims{
		Role: r,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   string(userID),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			// Unique per token: two sign-ins in one second get two tokens.
			ID: string(pulid.New("jti")),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.JWTSecret)
	return signed, exp, err
}

// Authenticate verifies an access token and returns its viewer. Only
// HS256 with our key, our issuer and an unexpired exp is accepted.
func (s *Service) Authenticate(token string) (Viewer, error) {
	var claims accessClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return s.cfg.JWTSecret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Viewer{}, jobsphere.Errorf(jobsphere.Unauthenticated, TokenExpiredMessage)
	case err != nil:
		return Viewer{}, jobsphere.Errorf(jobsphere.Unauthenticated, "Invalid access token")
	}
	r, err := role.Parse(string(claims.Role))
	if err != nil || claims.Subject == "" {
		return Viewer{}, jobsphere.Errorf(jobsphere.Unauthenticated, "Invalid access token")
	}
	return Viewer{UserID: pulid.ID(claims.Subject), Role: r, ExpiresAt: claims.ExpiresAt.Time}, nil
}

// newRefreshToken returns an opaque token and the hash we store of it;
// the token itself is never stored.
func newRefreshToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = "rt_" + base64.RawURLEncoding.EncodeToString(b)
	return token, hashRefreshToken(token), nil
}

func hashRefreshToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
