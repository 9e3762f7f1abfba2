package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere/ent/user"
	"github.com/jobsphere/jobsphere/server/servertest"
)

const meQuery = `{ me { id name email role avatarUrl rating { average count } createdAt } }`

type meResult struct {
	Me struct {
		ID, Name, Role string
		Email          *string
	}
}

func TestRegisterLoginRefreshLogout(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		customer := srv.Register(t, "CUSTOMER")
		contractor := srv.Register(t, "FREELANCER") // Skillhouse alias
		if customer.Role != "CUSTOMER" || contractor.Role != "CONTRACTOR" {
			t.Fatalf("roles: got %s and %s", customer.Role, contractor.Role)
		}

		// Register made a wallet.
		n, err := srv.App.Client.Wallet.Query().Count(context.Background())
		if err != nil || n != 2 {
			t.Fatalf("wallets: %d, %v", n, err)
		}

		// me, with the token from login.
		session := srv.Login(t, customer.Email, customer.Password)
		var me meResult
		srv.Client(session.AccessToken).MustDo(t, meQuery, nil, &me)
		if me.Me.ID != customer.ID || me.Me.Email == nil || *me.Me.Email != customer.Email {
			t.Fatalf("me: %+v", me.Me)
		}

		// Refresh rotates: the new pair works, the old refresh token not.
		refresh := `mutation($t: String!) { refreshToken(refreshToken: $t) { ` + servertest.AuthFields + ` } }`
		var rotated struct {
			RefreshToken struct {
				Tokens struct{ AccessToken, RefreshToken string }
			}
		}
		srv.Client("").MustDo(t, refresh, map[string]any{"t": session.RefreshToken}, &rotated)
		next := rotated.RefreshToken.Tokens
		if next.RefreshToken == "" || next.RefreshToken == session.RefreshToken {
			t.Fatalf("refresh token not rotated: %q", next.RefreshToken)
		}
		srv.Client(next.AccessToken).MustDo(t, meQuery, nil, &me)

		// Reusing the spent token is refused and revokes the family: the
		// token it was traded for stops working too.
		srv.Client("").Do(t, refresh, map[string]any{"t": session.RefreshToken}).RequireError(t, "UNAUTHENTICATED")
		srv.Client("").Do(t, refresh, map[string]any{"t": next.RefreshToken}).RequireError(t, "UNAUTHENTICATED")

		// Logout revokes a session's refresh token.
		other := srv.Login(t, contractor.Email, contractor.Password)
		var out struct{ Logout bool }
		srv.Client("").MustDo(t, `mutation($t: String!) { logout(refreshToken: $t) }`, map[string]any{"t": other.RefreshToken}, &out)
		if !out.Logout {
			t.Fatal("logout returned false")
		}
		srv.Client("").Do(t, refresh, map[string]any{"t": other.RefreshToken}).RequireError(t, "UNAUTHENTICATED")
	})
}

func TestAuthErrors(t *testing.T) {
	servertest.EachDatabase(t, func(t *testing.T, db servertest.Database) {
		srv := servertest.New(t, db)
		existing := srv.Register(t, "CUSTOMER")
		anon := srv.Client("")
		register := `mutation($input: RegisterInput!) { register(input: $input) { user { id } } }`
		input := func(email, password, name, role string) map[string]any {
			return map[string]any{"input": map[string]any{"email": email, "password": password, "name": name, "role": role}}
		}

		for _, tc := range []struct {
			name, email, password, role string
			field, message              string
		}{
			{"duplicate email", existing.Email, "Password123", "CUSTOMER", "email", "User already exists with this email"},
			{"duplicate email other case", " " + strings.ToUpper(existing.Email), "Password123", "CUSTOMER", "email", "User already exists with this email"},
			{"weak password", "new1@example.test", "short1", "CUSTOMER", "password", "Password must be 8 to 72 characters long and contain at least one letter and one number"},
			{"password without digit", "new2@example.test", "longpassword", "CUSTOMER", "password", "Password must be 8 to 72 characters long and contain at least one letter and one number"},
			{"bad email", "not-an-email", "Password123", "CUSTOMER", "email", "Please provide a valid email address"},
			{"admin self-registration", "new3@example.test", "Password123", "ADMIN", "role", "Role must be customer or contractor"},
			{"unknown role", "new4@example.test", "Password123", "PLUMBER", "role", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := anon.Do(t, register, input(tc.email, tc.password, "New User", tc.role)).RequireError(t, "BAD_USER_INPUT")
				fields := e.Fields()
				if len(fields) == 0 || fields[0].Field != tc.field {
					t.Fatalf("want field %q, got %+v", tc.field, fields)
				}
				if tc.message != "" && (fields[0].Message != tc.message || e.Message != tc.message) {
					t.Fatalf("want message %q, got %q / %q", tc.message, e.Message, fields[0].Message)
				}
			})
		}

		// Several problems are reported together.
		e := anon.Do(t, register, input("bad", "x", "", "CUSTOMER")).RequireError(t, "BAD_USER_INPUT")
		if got := len(e.Fields()); got != 3 {
			t.Fatalf("want 3 field errors, got %+v", e.Fields())
		}

		// None of the refused registrations created anything.
		n, err := srv.App.Client.User.Query().Count(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("users after refused registrations: %d, %v", n, err)
		}

		// Wrong password and unknown email get the same answer.
		login := `mutation($input: LoginInput!) { login(input: $input) { user { id } } }`
		for _, creds := range [][2]string{{existing.Email, "Wrong-password1"}, {"nobody@example.test", "Password123"}} {
			e := anon.Do(t, login, map[string]any{"input": map[string]any{"email": creds[0], "password": creds[1]}}).RequireError(t, "UNAUTHENTICATED")
			if e.Message != "Invalid email or password" {
				t.Fatalf("login message: %q", e.Message)
			}
		}

		// Protected fields need a valid token, and say so.
		anon.Do(t, meQuery, nil).RequireError(t, "UNAUTHENTICATED")
		srv.Client("not-a-jwt").Do(t, meQuery, nil).RequireError(t, "UNAUTHENTICATED")
		// Login and register still work with a stale token in the header.
		stale := srv.Client("not-a-jwt")
		var ok struct {
			Login struct{ User struct{ ID string } }
		}
		stale.MustDo(t, login, map[string]any{"input": map[string]any{"email": existing.Email, "password": existing.Password}}, &ok)
	})
}

func TestEmailIsPrivate(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	customer := srv.Register(t, "CUSTOMER")
	contractor := srv.Register(t, "CONTRACTOR")
	admin := srv.Admin(t)

	query := `query($id: ID!) { node(id: $id) { id ... on User { name email role } } }`
	var seen struct {
		Node *struct {
			ID    string
			Email *string
		}
	}
	srv.Client(contractor.AccessToken).MustDo(t, query, map[string]any{"id": customer.ID}, &seen)
	if seen.Node == nil || seen.Node.ID != customer.ID || seen.Node.Email != nil {
		t.Fatalf("another user's view: %+v", seen.Node)
	}
	srv.Client(admin.AccessToken).MustDo(t, query, map[string]any{"id": customer.ID}, &seen)
	if seen.Node == nil || seen.Node.Email == nil || *seen.Node.Email != customer.Email {
		t.Fatalf("admin's view: %+v", seen.Node)
	}
	// Unknown and malformed ids are null, not errors.
	for _, id := range []string{"usr_01ZZZZZZZZZZZZZZZZZZZZZZZZ", "nope", "wal_x"} {
		srv.Client(admin.AccessToken).MustDo(t, query, map[string]any{"id": id}, &seen)
		if seen.Node != nil {
			t.Fatalf("node(%q) = %+v", id, seen.Node)
		}
	}
	// node needs a viewer.
	srv.Client("").Do(t, query, map[string]any{"id": customer.ID}).RequireError(t, "UNAUTHENTICATED")

	// The admin made by the operator path exists with the ADMIN role.
	u, err := srv.App.Client.User.Query().Where(user.Email(admin.Email)).Only(context.Background())
	if err != nil || u.Role != "ADMIN" {
		t.Fatalf("admin: %+v, %v", u, err)
	}
}

// TestAccessTokensAreUnique: two sign-ins in the same second get two
// different access tokens (each has its own jti).
func TestAccessTokensAreUnique(t *testing.T) {
	srv := servertest.New(t, servertest.SQLite)
	u := srv.Register(t, "CUSTOMER")
	a, b := srv.Login(t, u.Email, u.Password), srv.Login(t, u.Email, u.Password)
	if a.AccessToken == b.AccessToken || a.AccessToken == u.AccessToken {
		t.Fatal("two sign-ins got the same access token")
	}
}
