package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/jobsphere/jobsphere"
)

// graphQLErrorBody is the GraphQL response shape, so that clients parse
// errors raised outside the GraphQL handler like any other.
type graphQLErrorBody struct {
	Errors []graphQLError `json:"errors"`
}

type graphQLError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// respondError answers with one error in the GraphQL shape; its code goes
// to the request's access log too.
func respondError(w http.ResponseWriter, status int, code, message string) {
	noteErrorCode(w, code)
	e := graphQLError{Message: message}
	e.Extensions.Code = code
	respondJSON(w, status, graphQLErrorBody{Errors: []graphQLError{e}})
}

func respondJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; a failed write means the client has gone.
	_ = json.NewEncoder(w).Encode(v)
}

// serviceErrorStatus is the HTTP status of a service error's code on the
// routes outside GraphQL (uploads, the statement export); other codes are
// 400.
var serviceErrorStatus = map[jobsphere.Code]int{
	jobsphere.Unauthenticated: http.StatusUnauthorized, jobsphere.Forbidden: http.StatusForbidden,
	jobsphere.BadUserInput: http.StatusBadRequest, jobsphere.NotFound: http.StatusNotFound,
	"PAYLOAD_TOO_LARGE": http.StatusRequestEntityTooLarge, jobsphere.RateLimited: http.StatusTooManyRequests,
}

// respondServiceError answers a route outside GraphQL with a service's
// error, in the GraphQL error shape, with its status (and Retry-After
// when rate limited). An error that is not a jobsphere.Error is a 500
// that says nothing more.
func respondServiceError(w http.ResponseWriter, err error) {
	var e *jobsphere.Error
	if !errors.As(err, &e) {
		respondError(w, http.StatusInternalServerError, string(jobsphere.Internal), "Internal server error")
		return
	}
	status := serviceErrorStatus[e.Code]
	if status == 0 {
		status = http.StatusBadRequest
	}
	if retry, ok := e.Extra["retryAfterSeconds"].(int); ok {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	respondError(w, status, string(e.Code), e.Message)
}
