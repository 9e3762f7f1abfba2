package servertest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// User is a registered user with a live session.
type User struct {
	ID           string
	Email        string
	Password     string
	Name         string
	Role         string
	AccessToken  string
	RefreshToken string
}

// TestPassword is the password of users the helpers make.
const TestPassword = "Password123"

var userSeq atomic.Int64

// AuthFields selects an AuthPayload.
const AuthFields = `user { id name email role } tokens { accessToken refreshToken accessTokenExpiresAt }`

type authPayload struct {
	User struct {
		ID, Name, Email, Role string
	}
	Tokens struct {
		AccessToken, RefreshToken, AccessTokenExpiresAt string
	}
}

// Register signs up a user with the given role (CUSTOMER, CONTRACTOR, or
// an alias) through the API.
func (s *Server) Register(t testing.TB, role string) User {
	t.Helper()
	n := userSeq.Add(1)
	email := fmt.Sprintf("%s%d@example.test", strings.ToLower(role), n)
	var out struct{ Register authPayload }
	s.Client("").MustDo(t, `mutation($input: RegisterInput!) { register(input: $input) { `+AuthFields+` } }`,
		map[string]any{"input": map[string]any{
			"email": email, "password": TestPassword, "name": "Test " + role, "role": role,
		}}, &out)
	return toUser(out.Register, TestPassword)
}

// Admin creates an admin the way an operator does and signs them in.
func (s *Server) Admin(t testing.TB) User {
	t.Helper()
	email := fmt.Sprintf("admin%d@example.test", userSeq.Add(1))
	if _, err := s.App.Auth.CreateAdmin(context.Background(), email, TestPassword, "Test Admin"); err != nil {
		t.Fatal(err)
	}
	return s.Login(t, email, TestPassword)
}

// Login signs a user in through the API.
func (s *Server) Login(t testing.TB, email, password string) User {
	t.Helper()
	var out struct{ Login authPayload }
	s.Client("").MustDo(t, `mutation($input: LoginInput!) { login(input: $input) { `+AuthFields+` } }`,
		map[string]any{"input": map[string]any{"email": email, "password": password}}, &out)
	return toUser(out.Login, password)
}

func toUser(p authPayload, password string) User {
	return User{
		ID: p.User.ID, Email: p.User.Email, Password: password, Name: p.User.Name, Role: p.User.Role,
		AccessToken: p.Tokens.AccessToken, RefreshToken: p.Tokens.RefreshToken,
	}
}
