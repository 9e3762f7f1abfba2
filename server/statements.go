package server

import (
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jobsphere/jobsphere"
	"github.com/jobsphere/jobsphere/auth"
	"github.com/jobsphere/jobsphere/ent/schema/pulid"
	"github.com/jobsphere/jobsphere/ledger"
)

// statementColumns is the export's header row.
var statementColumns = []string{"time", "transaction_id", "type", "description", "account", "amount", "balance_after"}

// statementFlushRows is how many rows the export writes between flushes:
// the client sees progress, and the server holds no more than these.
const statementFlushRows = 500

// handleStatementCSV serves GET /api/statements.csv?from=…&to=…[&userId=…]:
// the viewer's statement (anyone's for admins) as RFC 4180 CSV, a header
// row then one row per posting, streamed from a database cursor and
// flushed every few hundred rows, so an export of any size holds memory
// flat. Refusals come before the first byte, as JSON with their status:
// 401 without a valid token, 403 for another user's as a non-admin, 400
// for a bad period, 404 for an unknown user, 429 past the rate limit. A
// failure after the rows have started cuts the connection, so a
// truncated export never looks complete.
func handleStatementCSV(l *ledger.Ledger, authn *auth.Service, logger *slog.Logger) http.Handler {
	logger = WithRequestContext(logger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		v, err := auth.ViewerFrom(ctx)
		if err != nil {
			respondServiceError(w, err)
			return
		}
		var asked *pulid.ID
		if id := q.Get("userId"); id != "" {
			asked = (*pulid.ID)(&id)
		}
		userID, err := v.Whose(asked)
		if err != nil {
			respondServiceError(w, err)
			return
		}
		from, errFrom := statementTime(q.Get("from"), "from")
		to, errTo := statementTime(q.Get("to"), "to")
		if err := errors.Join(errFrom, errTo); err != nil {
			respondServiceError(w, err)
			return
		}
		if err := authn.Allow(ctx, auth.StatementExportLimit, string(v.UserID)); err != nil {
			respondServiceError(w, err)
			return
		}

		cur := l.Currency()
		out := csv.NewWriter(w)
		started, rows := false, 0
		begin := func() error {
			started = true
			h := w.Header()
			h.Set("Content-Type", "text/csv; charset=utf-8")
			h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement-%s.csv"`, userID))
			h.Set("Cache-Control", "no-store")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusOK)
			return out.Write(statementColumns)
		}
		_, err = l.StreamStatement(ctx, userID, from, to, func(line ledger.StatementLine) error {
			if !started {
				if err := begin(); err != nil {
					return err
				}
			}
			err := out.Write([]string{
				line.Time.UTC().Format(time.RFC3339Nano), string(line.TransactionID), string(line.Type), line.Description,
				line.Account, cur.Format(line.Amount), cur.Format(line.BalanceAfter),
			})
			if rows++; err == nil && rows%statementFlushRows == 0 {
				err = flushCSV(w, out)
			}
			return err
		})
		if err == nil && !started {
			err = begin() // no lines: the header row alone
		}
		if err == nil {
			err = flushCSV(w, out)
		}
		switch {
		case err == nil:
		case !started:
			if jobsphere.ErrorCode(err) == jobsphere.Internal {
				logger.ErrorContext(ctx, "statement export failed", slog.Any("error", err))
			}
			respondServiceError(w, err)
		default:
			if ctx.Err() == nil { // not just the client going away
				logger.ErrorContext(ctx, "statement export cut off", slog.Int("rows", rows), slog.Any("error", err))
			}
			panic(http.ErrAbortHandler)
		}
	})
}

// flushCSV sends what the CSV writer holds on to the client.
func flushCSV(w http.ResponseWriter, out *csv.Writer) error {
	out.Flush()
	if err := out.Error(); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// statementTime reads the export's from or to: an RFC 3339 time or a date
// (midnight UTC). A '+' of an offset sent unencoded arrives as a space,
// which RFC 3339 never has, so a space is read as '+'.
func statementTime(v, name string) (time.Time, error) {
	v = strings.Replace(v, " ", "+", 1)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, jobsphere.InvalidInput(jobsphere.FieldError{Field: name,
		Message: name + " must be an RFC 3339 time (2025-01-31T00:00:00Z) or a date (2025-01-31, midnight UTC)"})
}
