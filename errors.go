// Package jobsphere holds the domain's shared vocabulary: the error codes
// every service returns and clients see, and exact money amounts.
package jobsphere

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients; it becomes extensions.code.
type Code string

// The error codes (docs/api.md, "Errors").
const (
	Unauthenticated   Code = "UNAUTHENTICATED"
	Forbidden         Code = "FORBIDDEN"
	BadUserInput      Code = "BAD_USER_INPUT"
	NotFound          Code = "NOT_FOUND"
	Conflict          Code = "CONFLICT"
	InsufficientFunds Code = "INSUFFICIENT_FUNDS"
	WalletFrozen      Code = "WALLET_FROZEN"
	PaymentFailed     Code = "PAYMENT_FAILED"
	RateLimited       Code = "RATE_LIMITED"
	Internal          Code = "INTERNAL"
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error a client may see: its Message is written for people
// and never carries internals.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// Extra lands in extensions as is (stripeCode, retryAfterSeconds, …).
	Extra map[string]any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidInput reports input problems, one per field; the first message
// is the error's own.
func InvalidInput(fields ...FieldError) *Error {
	msg := "Invalid input"
	if len(fields) > 0 {
		msg = fields[0].Message
	}
	return &Error{Code: BadUserInput, Message: msg, Fields: fields}
}

// ErrorCode returns the code of err, or Internal when it has none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}
