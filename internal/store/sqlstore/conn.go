package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// conn runs statements on a database, or on a transaction of it. With a statement
// cache (SQLite, whose driver parses every statement afresh) it runs them through
// prepared statements kept per database; PostgreSQL's driver caches its own.
type conn struct {
	db    *sql.DB
	tx    *sql.Tx    // nil outside a transaction
	cache *stmtCache // nil: no caching
	// missed collects, in a transaction, queries not prepared yet: preparing takes a
	// connection, and the transaction may hold the only one (SQLite's writer), so
	// they are prepared once it ends (prepareMissed).
	missed *[]string
}

// inTx returns c running on tx, a transaction of c.db.
func (c conn) inTx(tx *sql.Tx) conn {
	return conn{db: c.db, tx: tx, cache: c.cache, missed: new([]string)}
}

// stmt returns a prepared statement for query on this database or transaction, or
// nil to run query unprepared.
func (c conn) stmt(ctx context.Context, query string) *sql.Stmt {
	if c.cache == nil {
		return nil
	}
	if c.tx == nil {
		return c.cache.get(ctx, c.db, query)
	}
	st := c.cache.lookup(query)
	if st == nil {
		*c.missed = append(*c.missed, query)
		return nil
	}
	return c.tx.StmtContext(ctx, st) // the statement prepared on the tx's connection
}

// prepareMissed prepares, after a transaction, the queries it ran unprepared.
func (c conn) prepareMissed(ctx context.Context) {
	if c.cache == nil || c.missed == nil {
		return
	}
	for _, q := range *c.missed {
		c.cache.get(ctx, c.db, q)
	}
}

func (c conn) plain() querier {
	if c.tx != nil {
		return c.tx
	}
	return c.db
}

func (c conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.plain().ExecContext(ctx, query, args...)
}

func (c conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.plain().QueryContext(ctx, query, args...)
}

func (c conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.plain().QueryRowContext(ctx, query, args...)
}

// maxCachedStatements bounds the cache: queries built from variable-length lists
// beyond it run unprepared.
const maxCachedStatements = 512

// stmtCache keeps prepared statements of one database by query text.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache() *stmtCache { return &stmtCache{m: map[string]*sql.Stmt{}} }

// lookup returns the statement for query if it is prepared, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// get returns the statement for query, preparing it on first use (which takes a
// connection of db: never call it inside a transaction); nil when the cache is full
// or preparing fails (running the query unprepared then reports the error).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxCachedStatements
	c.mu.Unlock()
	if ok {
		return st
	}
	if full {
		return nil
	}
	st, err := db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev
	}
	c.m[query] = st
	return st
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}
