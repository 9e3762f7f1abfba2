package jobsphere

import (
	"fmt"
	"slices"
	"strings"
)

// Transitions is an aggregate's state machine: for each status, the
// statuses it may move to. Each aggregate's package declares its table
// next to the one move function every change of its status goes through:
// a conditional update (UPDATE … WHERE id = ? AND status IN From(to)), so
// the database itself refuses a move the table does not allow, and of two
// racing moves exactly one wins.
type Transitions[S ~string] struct {
	Name  string // the aggregate as messages name it: "Offer"
	Moves map[S][]S
}

// From returns the statuses to may be reached from, sorted.
func (t Transitions[S]) From(to S) []S {
	var from []S
	for s, tos := range t.Moves {
		if slices.Contains(tos, to) {
			from = append(from, s)
		}
	}
	slices.Sort(from)
	return from
}

// Allows reports whether the table has the move from → to.
func (t Transitions[S]) Allows(from, to S) bool { return slices.Contains(t.Moves[from], to) }

// Refused is the CONFLICT of a move the row's current status does not
// allow: it names the status the row is in ("Offer is WITHDRAWN").
func (t Transitions[S]) Refused(current S) *Error {
	return Errorf(Conflict, "%s is %s", t.Name, current)
}

// Move runs one conditional move to status to. update must change the row
// only if its status is one of from (and any guard of the caller's holds)
// and return how many rows it changed; current reads the status the row
// is in now, to name it when nothing changed. A refusal whose row is in a
// status the table allows was refused by the caller's guard: refusedByGuard
// explains it (nil: the generic refusal).
func (t Transitions[S]) Move(to S, update func(from []S) (int, error), current func() (S, error), refusedByGuard func(S) error) error {
	return t.MoveExplained(to, update, current, t.Guarded(to, refusedByGuard))
}

// Guarded is Move's explanation of a refusal: refusedByGuard's when the
// row is in a status the table allows the move from (nil: the table's
// own).
func (t Transitions[S]) Guarded(to S, refusedByGuard func(S) error) func(S) error {
	return func(now S) error {
		if t.Allows(now, to) && refusedByGuard != nil {
			return refusedByGuard(now)
		}
		return t.Refused(now)
	}
}

// MoveExplained is Move for moves whose refusals say more than the status
// (which move would be right, what to do): explain turns the status the
// row is in into the refusal (nil: the table's own).
func (t Transitions[S]) MoveExplained(to S, update func(from []S) (int, error), current func() (S, error), explain func(S) error) error {
	n, err := update(t.From(to))
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return t.Refusal(current, explain)
}

// Refusal is the error of a move that changed nothing: current reads the
// status the row is in now, explain turns it into the refusal (nil: the
// table's own).
func (t Transitions[S]) Refusal(current func() (S, error), explain func(S) error) error {
	now, err := current()
	if err != nil {
		return err
	}
	if explain == nil {
		return t.Refused(now)
	}
	return explain(now)
}

// Markdown is the table as docs/state-machines.md shows it: one row per
// status a move leaves, sorted, with the statuses it may move to.
func (t Transitions[S]) Markdown() string {
	from := make([]S, 0, len(t.Moves))
	for s := range t.Moves {
		from = append(from, s)
	}
	slices.Sort(from)
	var b strings.Builder
	b.WriteString("| from | to |\n|---|---|\n")
	for _, s := range from {
		tos := make([]string, len(t.Moves[s]))
		for i, to := range t.Moves[s] {
			tos[i] = string(to)
		}
		fmt.Fprintf(&b, "| %s | %s |\n", s, strings.Join(tos, ", "))
	}
	return b.String()
}

// DocumentedIn reports, as an error, whether doc lacks the table under a
// heading with the aggregate's name ("### Offer").
func (t Transitions[S]) DocumentedIn(doc string) error {
	if !strings.Contains(doc, "### "+t.Name+"\n\n"+t.Markdown()) {
		return fmt.Errorf("the docs do not show the %s table as the code has it:\n### %s\n\n%s", t.Name, t.Name, t.Markdown())
	}
	return nil
}
