// Package role names what a user may do: CUSTOMER posts and pays for jobs,
// CONTRACTOR does them and is paid, ADMIN reviews money movements.
package role

import (
	"io"
	"strconv"
	"strings"

	"github.com/jobsphere/jobsphere"
)

// Role is a user's role. It is stored and returned as CUSTOMER, CONTRACTOR
// or ADMIN; on input the Skillhouse names CLIENT and FREELANCER (any case)
// are accepted as aliases.
type Role string

// The roles.
const (
	Customer   Role = "CUSTOMER"
	Contractor Role = "CONTRACTOR"
	Admin      Role = "ADMIN"
)

// Values lists the stored values, for ent's enum column.
func (Role) Values() []string {
	return []string{string(Customer), string(Contractor), string(Admin)}
}

// Parse maps a role name or alias to its Role.
func Parse(s string) (Role, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CUSTOMER", "CLIENT":
		return Customer, nil
	case "CONTRACTOR", "FREELANCER":
		return Contractor, nil
	case "ADMIN":
		return Admin, nil
	}
	return "", jobsphere.InvalidInput(jobsphere.FieldError{Field: "role", Message: "Role must be customer or contractor"})
}

// MarshalGQL writes the stored name.
func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL accepts a role name or alias.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return jobsphere.InvalidInput(jobsphere.FieldError{Field: "role", Message: "Role must be customer or contractor"})
	}
	parsed, err := Parse(s)
	if err != nil {
		return err
	}
	*r = parsed
	return nil
}
