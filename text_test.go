package jobsphere_test

import (
	"strings"
	"testing"

	"github.com/jobsphere/jobsphere"
)

func TestCheckLengths(t *testing.T) {
	ok, long, wide := "fine", strings.Repeat("a", 11), strings.Repeat("é", 10)
	if err := jobsphere.CheckLengths(
		jobsphere.TextLimit{Field: "a", Label: "A", Text: &ok, Max: 10},
		jobsphere.TextLimit{Field: "b", Label: "B", Text: nil, Max: 1},
		jobsphere.TextLimit{Field: "c", Label: "C", Text: &wide, Max: 10}, // characters, not bytes
	); err != nil {
		t.Fatalf("texts within their limits: %v", err)
	}
	err := jobsphere.CheckLengths(jobsphere.TextLimit{Field: "coverLetter", Label: "Cover letter", Text: &long, Max: 10})
	var e *jobsphere.Error
	if !asError(err, &e) || e.Code != jobsphere.BadUserInput || len(e.Fields) != 1 ||
		e.Fields[0].Field != "coverLetter" || e.Message != "Cover letter must be at most 10 characters" {
		t.Fatalf("a text over its limit: %#v", err)
	}
}

func asError(err error, e **jobsphere.Error) bool {
	var ok bool
	*e, ok = err.(*jobsphere.Error)
	return ok
}
