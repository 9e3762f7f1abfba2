package market

import (
	"context"
	"errors"
	"fmt"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/jobsphere/jobsphere"
	entc "github.com/jobsphere/jobsphere/ent"
)

// On PostgreSQL a conditional move (states.go) can read the row it moved
// in its own statement, and the moves of one step of a transaction can run
// in one statement (moveTogether): ent builds each typed update (hooks,
// defaults and guards included), a modifier takes the built update instead
// of letting ent run it, and the updates run as data-modifying CTEs, read
// by an ent query of the table when the row is wanted. SQLite has no
// data-modifying CTEs: there each update runs as it comes, and a row
// wanted is read after it.

// errInStatement stops ent from running an update that runs in a
// statement of ours instead.
var errInStatement = errors.New("market: the update runs in a statement of its own")

// typedUpdate is an ent update builder (JobUpdate, EscrowUpdate, …).
type typedUpdate[U any] interface {
	Modify(...func(*entsql.UpdateBuilder)) U
	Save(context.Context) (int, error)
}

// capture runs u's Save with a modifier that, on PostgreSQL, takes the
// built update (RETURNING columns) and stops ent from running it; on
// SQLite the update runs, and n is how many rows it changed. A move sets
// columns of its own rows only: an edge kept in another table (O2M, M2M)
// would be written by ent after the update, which it no longer runs.
func capture[U typedUpdate[U]](ctx context.Context, u U, columns []string) (update *entsql.UpdateBuilder, n int, err error) {
	u.Modify(func(b *entsql.UpdateBuilder) {
		if b.Dialect() == dialect.SQLite {
			return
		}
		update = b.Returning(columns...)
		b.AddError(errInStatement)
	})
	n, err = u.Save(ctx)
	switch {
	case update == nil:
		return nil, n, err
	case err == nil:
		return nil, 0, errors.New("market: an update ran that was to run in a statement of its own")
	case err.Error() != errInStatement.Error(): // the builder joins its errors into one message
		return nil, 0, err
	}
	return update, 0, nil
}

// save runs a conditional move's typed update and returns how many rows it
// moved. Inside moveTogether, on PostgreSQL, it only joins the statement
// moveTogether runs, which counts it (n is then 0); optional: the move may
// move no row without being refused.
func save[U typedUpdate[U]](ctx context.Context, u U, optional bool) (int, error) {
	b, err := togetherIn(ctx)
	if err != nil {
		return 0, err
	}
	if b == nil {
		return u.Save(ctx)
	}
	update, n, err := capture(ctx, u, []string{"id"})
	if err != nil || update == nil {
		return n, err
	}
	b.moves = append(b.moves, &pendingMove{update: update, optional: optional})
	return 0, nil
}

// saveReading is save for a move that also reads the row it moved into
// *into, with read, a query of the same table: on PostgreSQL in the move's
// own statement, which the query reads in the table's place. Inside
// moveTogether that is the statement's first move.
func saveReading[T valued, U typedUpdate[U]](ctx context.Context, u U, into *T, columns []string,
	read func(with func(*entsql.Selector)) ([]T, error)) (int, error) {
	update, n, err := capture(ctx, u, columns)
	if err != nil {
		return 0, err
	}
	if update == nil { // SQLite: the update ran
		if n == 0 {
			return 0, nil
		}
		return readInto(into, func(*entsql.Selector) {}, read)
	}
	b, err := togetherIn(ctx)
	if err != nil {
		return 0, err
	}
	if b != nil {
		if len(b.moves) > 0 {
			return 0, errors.New("market: only the first move of a statement reads its row")
		}
		b.moves = append(b.moves, &pendingMove{update: update})
		b.read = func(with func(*entsql.Selector)) (valued, error) {
			if n, err := readInto(into, with, read); n == 0 || err != nil {
				return nil, err
			}
			return *into, nil
		}
		return 0, nil
	}
	return readInto(into, func(s *entsql.Selector) { (&together{moves: []*pendingMove{{update: update}}}).from(s) }, read)
}

// readInto reads the row a move moved into *into and says how many it
// read (0 or 1).
func readInto[T any](into *T, with func(*entsql.Selector), read func(with func(*entsql.Selector)) ([]T, error)) (int, error) {
	rows, err := read(with)
	if err != nil {
		return 0, err
	}
	if len(rows) == 1 {
		*into = rows[0]
	}
	return len(rows), nil
}

// valued is an ent entity, with the values a query selected beyond its
// columns.
type valued interface {
	Value(name string) (ent.Value, error)
}

// together is the moves moveTogether runs in one statement.
type together struct {
	moves []*pendingMove
	// read, when the first move reads its row: the query of its table the
	// statement is, which returns that row (nil when the move was
	// refused) with every move's count as a value of it ("m1", …).
	read func(with func(*entsql.Selector)) (valued, error)
	ran  bool // the statement ran: a move now (by a refusal's reads) would be lost
}

// pendingMove is a move built and not yet run.
type pendingMove struct {
	update   *entsql.UpdateBuilder
	optional bool
	n        int64
	refused  func() error // set by move: why it moved nothing
}

type togetherKey struct{}

// togetherIn is the moves ctx is inside, if any; a move made once their
// statement ran is an error, not a move that never runs.
func togetherIn(ctx context.Context) (*together, error) {
	b, _ := ctx.Value(togetherKey{}).(*together)
	if b != nil && b.ran {
		return nil, errors.New("market: a move after its statement ran")
	}
	return b, nil
}

// name is the CTE of the k-th move.
func (b *together) name(k int) string { return fmt.Sprintf("m%d", k) }

// gate makes each move after the first run only once the required move
// before it moved a row, which also makes it wait for that move's row
// locks: the lock order is the moves' order.
func (b *together) gate() {
	gate := ""
	for k, m := range b.moves {
		if gate != "" {
			m.update.Where(entsql.ExprP("EXISTS (SELECT 1 FROM " + gate + ")"))
		}
		if !m.optional {
			gate = b.name(k)
		}
	}
}

// from makes s, a query of the first move's table, read that move's rows:
// the moves as CTEs, the first one's in the table's place.
func (b *together) from(s *entsql.Selector) {
	s.Prefix(&withUpdates{together: b}).From(entsql.Table(b.name(0)).As(s.TableName()))
}

// withUpdates is "WITH m0 AS (update), …" as a query's prefix. It numbers
// the updates' arguments from where the query puts it (the state methods
// ent's builders call) and, unlike the updates, reports no error: theirs
// is errInStatement.
type withUpdates struct {
	*together
	total int
}

func (w *withUpdates) Query() (string, []any) {
	b := &entsql.Builder{}
	b.SetDialect(dialect.Postgres)
	b.WriteString("WITH ")
	var args []any
	for k, m := range w.moves {
		if k > 0 {
			b.Comma()
		}
		m.update.SetTotal(w.total + len(args))
		query, margs := m.update.Query()
		b.WriteString(w.name(k)).WriteString(" AS (").WriteString(query).WriteString(")")
		args = append(args, margs...)
	}
	return b.String(), args
}

func (w *withUpdates) SetDialect(string) {}
func (w *withUpdates) Dialect() string   { return dialect.Postgres }
func (w *withUpdates) SetTotal(n int)    { w.total = n }
func (w *withUpdates) Total() int        { return w.total }

// move is t.MoveExplained, or, inside moveTogether on PostgreSQL, the
// move's part of the statement moveTogether runs, its refusal explained
// after the statement ran.
func move[S ~string](ctx context.Context, t jobsphere.Transitions[S], to S, update func(from []S) (int, error), current func() (S, error), explain func(S) error) error {
	b, err := togetherIn(ctx)
	if err != nil {
		return err
	}
	if b == nil {
		return t.MoveExplained(to, update, current, explain)
	}
	pending := len(b.moves)
	n, err := update(t.From(to))
	switch {
	case err != nil:
		return err
	case len(b.moves) > pending: // joined the statement
		b.moves[pending].refused = func() error { return t.Refusal(current, explain) }
		return nil
	case n > 0:
		return nil
	}
	return t.Refusal(current, explain)
}

// moveTogether runs the moves fn makes (through move, in fn's order, which
// must be the lock order) in one statement on PostgreSQL, each only once
// the required move before it moved a row, and returns the first refusal,
// explained as the move alone would explain it, after the moves before it
// (which the caller's rollback undoes). fn makes nothing but moves. On
// SQLite fn's moves run as they come.
//
// The statement reads as of its start: the caller holds the job's lock
// already (lockJob, joinLockedJob), so that no move waits for a row lock
// and then skips a row that began to match meanwhile, as one statement
// per move would not. Moves guard only on their own rows' columns (which
// PostgreSQL checks again on a row it waited for), not on other tables.
func moveTogether(ctx context.Context, tx *entc.Tx, fn func(ctx context.Context) error) error {
	b := &together{}
	if err := fn(context.WithValue(ctx, togetherKey{}, b)); err != nil || len(b.moves) == 0 {
		return err
	}
	b.gate()
	b.ran = true
	if b.read != nil {
		row, err := b.read(func(s *entsql.Selector) {
			b.from(s)
			for k := 1; k < len(b.moves); k++ {
				s.AppendSelectExprAs(entsql.Expr("(SELECT count(*) FROM "+b.name(k)+")"), b.name(k))
			}
		})
		if err != nil {
			return fmt.Errorf("run the moves: %w", err)
		}
		if row == nil { // the first move was refused: no other ran
			return b.refusal()
		}
		b.moves[0].n = 1
		for k := 1; k < len(b.moves); k++ {
			v, err := row.Value(b.name(k))
			n, ok := v.(int64)
			if err != nil || !ok {
				return fmt.Errorf("read the count of move %d: %v, %w", k, v, err)
			}
			b.moves[k].n = n
		}
		return b.refusal()
	}
	stmt := &entsql.Builder{}
	stmt.SetDialect(dialect.Postgres)
	stmt.Join(&withUpdates{together: b}).WriteString(" SELECT ")
	for k := range b.moves {
		if k > 0 {
			stmt.Comma()
		}
		stmt.WriteString("(SELECT count(*) FROM " + b.name(k) + ")")
	}
	query, args := stmt.Query()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("run the moves: %w", err)
	}
	counts := make([]any, len(b.moves))
	for k, m := range b.moves {
		counts[k] = &m.n
	}
	// The rows are closed before a refusal reads on the connection.
	err = func() error {
		defer rows.Close()
		if !rows.Next() {
			return errors.Join(errors.New("run the moves: no counts"), rows.Err())
		}
		if err := rows.Scan(counts...); err != nil {
			return fmt.Errorf("read the moves' counts: %w", err)
		}
		return rows.Close()
	}()
	if err != nil {
		return err
	}
	return b.refusal()
}

// refusal is the first required move's that moved nothing: the moves
// after it did not run.
func (b *together) refusal() error {
	for _, m := range b.moves {
		if m.n == 0 && !m.optional {
			if err := m.refused(); err != nil {
				return err
			}
			// The moves after it did not run: never as if they had.
			return errors.New("market: a move moved nothing and its refusal said nothing")
		}
	}
	return nil
}
