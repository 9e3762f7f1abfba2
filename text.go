package jobsphere

import (
	"fmt"
	"unicode/utf8"
)

// The longest free text each kind of input may hold, in characters, where
// the seeds set no limit of their own: stored text is served to other
// users, and none of it is unbounded.
const (
	MaxTitleLength  = 150  // titles (the seeds' limit for a job's)
	MaxLabelLength  = 100  // categories
	MaxPlaceLength  = 200  // locations
	MaxKeyLength    = 255  // idempotency keys, Stripe ids
	MaxReasonLength = 500  // cancel, rejection and freeze reasons
	MaxProseLength  = 5000 // cover letters, longer explanations
)

// TextLimit is one free-text input and its longest allowed length.
type TextLimit struct {
	Field, Label string // the input's name, and how a message names it
	Text         *string
	Max          int
}

// TooLong reports each text (when given) that is longer than its limit.
func TooLong(limits ...TextLimit) []FieldError {
	var fields []FieldError
	for _, l := range limits {
		if l.Text != nil && utf8.RuneCountInString(*l.Text) > l.Max {
			fields = append(fields, FieldError{Field: l.Field, Message: fmt.Sprintf("%s must be at most %d characters", l.Label, l.Max)})
		}
	}
	return fields
}

// CheckRequired is CheckLengths for texts that must be given: a missing
// (nil) one is BAD_USER_INPUT "<Label> is required".
func CheckRequired(limits ...TextLimit) error {
	for _, l := range limits {
		if l.Text == nil {
			return InvalidInput(FieldError{Field: l.Field, Message: l.Label + " is required"})
		}
	}
	return CheckLengths(limits...)
}

// CheckLengths is TooLong as an error: BAD_USER_INPUT naming every field
// that is too long, or nil.
func CheckLengths(limits ...TextLimit) error {
	if fields := TooLong(limits...); len(fields) > 0 {
		return InvalidInput(fields...)
	}
	return nil
}
