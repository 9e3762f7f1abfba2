package market

import (
	"context"
	"errors"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// errInStatement stops ent from running an update that movedRows runs
// itself, as part of a query.
var errInStatement = errors.New("market: the update runs in the query that reads its rows")

// typedUpdate is an ent update builder (JobUpdate, EscrowUpdate, …).
type typedUpdate[U any] interface {
	Modify(...func(*entsql.UpdateBuilder)) U
	Save(context.Context) (int, error)
}

// saveMove runs a conditional move's typed update u and returns how many
// rows it moved; with into, it also reads the row it moved into *into,
// with read, a query of the same table (movedRows).
func saveMove[T any, U typedUpdate[U]](ctx context.Context, u U, into *T, table string, columns []string,
	read func(with func(*entsql.Selector)) ([]T, error)) (int, error) {
	if into == nil {
		return u.Save(ctx)
	}
	rows, err := movedRows(ctx, u, table, columns, read)
	if err != nil {
		return 0, err
	}
	if len(rows) == 1 {
		*into = rows[0]
	}
	return len(rows), nil
}

// movedRows runs a typed update (hooks, defaults and guards included) and
// reads the rows it changed with read, so that the caller needs no read of
// them afterwards. On PostgreSQL that is one statement: the update,
// RETURNING the table's columns, becomes a CTE named after its table,
// which the query then reads in the table's place (inside the CTE the
// name is still the table's). SQLite has no data-modifying CTEs: there it
// is the update, then the read if it changed a row.
func movedRows[T any, U typedUpdate[U]](ctx context.Context, u U, table string, columns []string,
	read func(with func(*entsql.Selector)) ([]T, error)) ([]T, error) {
	var update *entsql.UpdateBuilder
	u.Modify(func(b *entsql.UpdateBuilder) {
		if b.Dialect() == dialect.SQLite {
			return
		}
		update = b.Returning(columns...)
		b.AddError(errInStatement)
	})
	n, err := u.Save(ctx)
	if update == nil {
		if err != nil || n == 0 {
			return nil, err
		}
		return read(func(*entsql.Selector) {})
	}
	// The builder joins its errors into one message: ours alone means it
	// stopped only for us.
	switch {
	case err == nil:
		return nil, errors.New("market: a move ran without its read")
	case err.Error() != errInStatement.Error():
		return nil, err
	}
	return read(func(s *entsql.Selector) { s.Prefix(&updateCTE{table: table, update: update}) })
}

// updateCTE is "WITH <table> AS (<update>)", as a query's prefix. It
// numbers the update's arguments from where the query puts it (the state
// methods ent's builders call) and, unlike the update, reports no error:
// the update's is errInStatement.
type updateCTE struct {
	table  string
	update *entsql.UpdateBuilder
	total  int
}

func (c *updateCTE) Query() (string, []any) {
	c.update.SetTotal(c.total)
	query, args := c.update.Query()
	b := &entsql.Builder{}
	b.SetDialect(dialect.Postgres)
	b.WriteString("WITH ").Ident(c.table).WriteString(" AS (").WriteString(query).WriteString(")")
	return b.String(), args
}

func (c *updateCTE) SetDialect(string) {}
func (c *updateCTE) Dialect() string   { return dialect.Postgres }
func (c *updateCTE) SetTotal(n int)    { c.total = n }
func (c *updateCTE) Total() int        { return c.total }
