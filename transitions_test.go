package jobsphere_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere"
)

type light string

var lights = jobsphere.Transitions[light]{Name: "Light", Moves: map[light][]light{
	"GREEN": {"AMBER"}, "AMBER": {"RED"}, "RED": {"GREEN"},
}}

func TestTransitions(t *testing.T) {
	if got := lights.From("RED"); !slices.Equal(got, []light{"AMBER"}) {
		t.Fatalf("From(RED) = %v", got)
	}
	if !lights.Allows("GREEN", "AMBER") || lights.Allows("GREEN", "RED") {
		t.Fatal("Allows disagrees with the table")
	}
	// The row moved: nothing else is asked.
	row := light("GREEN")
	update := func(from []light) (int, error) {
		if slices.Contains(from, row) {
			row = "AMBER"
			return 1, nil
		}
		return 0, nil
	}
	current := func() (light, error) { return row, nil }
	if err := lights.Move("AMBER", update, current, nil); err != nil || row != "AMBER" {
		t.Fatalf("GREEN → AMBER: %v, row %s", err, row)
	}
	// Not in the table: CONFLICT naming the status the row is in.
	err := lights.Move("GREEN", update, current, nil)
	var e *jobsphere.Error
	if !errors.As(err, &e) || e.Code != jobsphere.Conflict || e.Message != "Light is AMBER" {
		t.Fatalf("AMBER → GREEN: %v", err)
	}
	// Allowed by the table, refused by the caller's guard: its explanation.
	guarded := func([]light) (int, error) { return 0, nil }
	errGuard := errors.New("the crossing is blocked")
	if err := lights.Move("RED", guarded, current, func(light) error { return errGuard }); err != errGuard {
		t.Fatalf("guarded move: %v", err)
	}
}

func TestTransitionsDocumented(t *testing.T) {
	doc := "### Light\n\n| from | to |\n|---|---|\n| AMBER | RED |\n| GREEN | AMBER |\n| RED | GREEN |\n"
	if err := lights.DocumentedIn(doc); err != nil {
		t.Fatal(err)
	}
	if err := lights.DocumentedIn(strings.Replace(doc, "| RED | GREEN |", "| RED | AMBER |", 1)); err == nil {
		t.Fatal("a doc that disagrees with the table passed")
	}
}
