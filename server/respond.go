package server

import (
	"encoding/json"
	"net/http"
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
