package database

import (
	"container/list"
	"context"
	"database/sql/driver"
)

// preparedPerConn is how many statements a PostgreSQL connection keeps
// prepared: enough for every statement the server runs often (a few
// hundred shapes), so that one is seldom closed to make room.
const preparedPerConn = 512

// preparingConnector gives each PostgreSQL connection its own prepared
// statements: a statement with arguments is prepared the first time the
// connection runs it and executed from then on, so PostgreSQL parses it
// (and, once its generic plan does, plans it) once per connection instead
// of every time. An execution is still one round trip (Bind, Execute,
// Sync); the preparation is one more, once. Statements without arguments
// (DDL, several statements in one string) run as they are.
type preparingConnector struct {
	driver.Connector
	size int // statements kept per connection
}

// Unwrap is the driver's own connector (the meter sets its dialer).
func (c preparingConnector) Unwrap() driver.Connector { return c.Connector }

func (c preparingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(pqConn)
	if !ok {
		return conn, nil // a driver without these interfaces runs unprepared
	}
	return &preparingConn{pqConn: pc, size: c.size, byQuery: map[string]*list.Element{}, recent: list.New()}, nil
}

// pqConn is what lib/pq's connection implements, all of it passed on.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
	driver.Pinger
}

// preparingConn keeps its prepared statements by query, the least
// recently used closed first. database/sql uses a connection from one
// goroutine at a time, so it needs no lock.
type preparingConn struct {
	pqConn
	size    int
	byQuery map[string]*list.Element // of recent
	recent  *list.List               // of *preparedStmt, most recent first
}

// preparedStmt is a statement prepared on the connection, under its query.
type preparedStmt struct {
	query string
	pqStmt
}

// pqStmt is what lib/pq's prepared statement implements.
type pqStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (c *preparingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args)
}

func (c *preparingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args)
}

// prepared is the connection's statement of query, prepared now if it is
// not yet.
func (c *preparingConn) prepared(ctx context.Context, query string) (*preparedStmt, error) {
	if e, ok := c.byQuery[query]; ok {
		c.recent.MoveToFront(e)
		return e.Value.(*preparedStmt), nil
	}
	st, err := c.pqConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	full, ok := st.(pqStmt)
	if !ok {
		_ = st.Close()
		return nil, driver.ErrSkip
	}
	p := &preparedStmt{query: query, pqStmt: full}
	c.byQuery[query] = c.recent.PushFront(p)
	if c.recent.Len() > c.size {
		oldest := c.recent.Remove(c.recent.Back()).(*preparedStmt)
		delete(c.byQuery, oldest.query)
		if err := oldest.Close(); err != nil {
			return nil, err
		}
	}
	return p, nil
}
