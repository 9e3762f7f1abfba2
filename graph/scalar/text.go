package scalar

import (
	"fmt"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
)

// GraphQL's String and ID are bound to these (gqlgen.yml), so every string
// a client sends — argument or input field, variable or inline, alone or
// in a list — is checked here before a resolver sees it. PostgreSQL
// refuses NUL in text (an INTERNAL error), SQLite would store it, and no
// field of ours has a use for the other control characters.

// MarshalString writes a String as gqlgen does.
func MarshalString(s string) graphql.Marshaler { return graphql.MarshalString(s) }

// UnmarshalString reads a String: gqlgen's coercion, then refuses
// invalid UTF-8 and control characters other than tab, newline and
// carriage return.
func UnmarshalString(v any) (string, error) {
	s, err := graphql.UnmarshalString(v)
	if err != nil {
		return "", err
	}
	if err := CheckText(s, false); err != nil {
		return "", err
	}
	return s, nil
}

// MarshalID writes an ID.
func MarshalID(id pulid.ID) graphql.Marshaler { return graphql.MarshalString(string(id)) }

// UnmarshalID reads an ID: a string (or an integer, as the spec allows)
// with no control character at all, tab and newline included.
func UnmarshalID(v any) (pulid.ID, error) {
	s, err := graphql.UnmarshalString(v)
	if err != nil {
		return "", err
	}
	if err := CheckText(s, true); err != nil {
		return "", err
	}
	return pulid.ID(s), nil
}

// CheckText refuses invalid UTF-8, C0 controls (but tab, newline and
// carriage return unless singleLine), DEL and C1 controls with
// BAD_USER_INPUT. The error presenter names the field from the error's
// path.
func CheckText(s string, singleLine bool) error {
	if !utf8.ValidString(s) {
		return inputError("Text must be valid UTF-8")
	}
	for _, r := range s {
		if controlCharacter(r, singleLine) {
			return inputError(fmt.Sprintf("Text must not contain control characters (found U+%04X)", r))
		}
	}
	return nil
}

func controlCharacter(r rune, singleLine bool) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return singleLine
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	}
	return false
}

func inputError(problem string) error {
	return &jobsphere.Error{Code: jobsphere.BadUserInput, Message: problem}
}
