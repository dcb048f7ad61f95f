package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mycelia-kernel/storage/internal/sqlitedb"
)

// fastReadQ is the querier of the SQLite reader pool outside transactions.
// Get, Has and GetMany, the point reads, run their fixed statements
// through the driver itself (driverReads) instead of database/sql's
// *sql.Stmt; everything else is sqliteQ's.
//
// database/sql costs a point read more than a tenth of its CPU: per call
// it finds the statement prepared on the connection it took (a list
// searched under the statement's lock), allocates and tracks a *sql.Rows,
// and, for a context that can end, starts a goroutine that watches it
// (the driver watches it too); Scan then converts each column by
// reflection. Here a call takes a reader connection (sql.Conn), runs the
// statement the driver prepared on that connection once, and reads the
// driver's values.
type fastReadQ struct {
	sqliteQ
	d *driverReads
}

func (q fastReadQ) getEntry(ctx context.Context, ns, key string, now time.Time) (row, error) {
	r := row{Key: key}
	found := false
	err := q.d.query(ctx, readGet, keyArgs(ns, key, now), func(v []driver.Value) error {
		packed, ok := v[0].(string)
		if !ok {
			return fmt.Errorf("%w: %T", errPacked, v[0])
		}
		found = true
		return unpackEntry(packed, &r)
	})
	if err == nil && !found {
		err = errNoRow
	}
	if err != nil {
		return row{}, err
	}
	return r, nil
}

// keyArgs are the arguments of GetEntry and HasEntry.
func keyArgs(ns, key string, now time.Time) []driver.NamedValue {
	return []driver.NamedValue{{Ordinal: 1, Value: ns}, {Ordinal: 2, Value: key}, {Ordinal: 3, Value: micros(now)}}
}

func (q fastReadQ) hasEntry(ctx context.Context, ns, key string, now time.Time) (bool, error) {
	found := false
	err := q.d.query(ctx, readHas, keyArgs(ns, key, now), func(v []driver.Value) error {
		n, ok := v[0].(int64)
		if !ok {
			return fmt.Errorf("sqlstore: HasEntry returned %T", v[0])
		}
		found = n != 0
		return nil
	})
	return found, err
}

func (q fastReadQ) getEntries(ctx context.Context, ns string, keys []string, now time.Time) ([]row, error) {
	out := make([]row, 0, len(keys))
	err := q.d.query(ctx, readGetMany, []driver.NamedValue{
		{Ordinal: 1, Value: ns}, {Ordinal: 2, Value: jsonKeysExact(keys)}, {Ordinal: 3, Value: micros(now)},
	}, func(v []driver.Value) error {
		key, ok1 := v[0].(string)
		packed, ok2 := v[1].(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: %T, %T", errPacked, v[0], v[1])
		}
		r := row{Key: key}
		if err := unpackEntry(packed, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// The statements driverReads runs, and the columns of their rows.
const (
	readGet = iota
	readHas
	readGetMany
	numReads
)

var (
	readSQL  = [numReads]string{sqlitedb.GetEntrySQL, sqlitedb.HasEntrySQL, sqlitedb.GetEntriesSQL}
	readCols = [numReads]int{1, 1, 2}
)

// driverReads runs the point reads on the reader pool db through driver
// statements prepared once per connection. database/sql knows nothing of
// them, so they are finalized here: by the call that finds the store
// closing, or by close, before the pool closes its connections.
type driverReads struct {
	db *sql.DB
	// conns: a driver connection (as database/sql's Raw hands it) to its
	// *connReads. Each is used only inside Raw, which holds the
	// connection's lock.
	conns   sync.Map
	closing atomic.Bool
	// n counts the statements run (the store's round trips), or nil.
	n *atomic.Int64
	// wait bounds close's wait for a connection in use.
	wait time.Duration
}

// connReads are the statements prepared on one connection, nil until
// first used.
type connReads struct {
	st [numReads]driver.Stmt
}

// errReadsClosed is what a read finds once the store's reader pool is
// closing; the store reports it as ErrClosed (Store.fail).
var errReadsClosed = errors.New("sqlstore: reader pool closed")

// query runs statement k with args on a reader connection and calls each
// with every row's values (the same slice each time: each copies what it
// keeps; the driver's strings are its own).
func (d *driverReads) query(ctx context.Context, k int, args []driver.NamedValue, each func([]driver.Value) error) error {
	if d.n != nil {
		d.n.Add(1)
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	err = conn.Raw(func(dc any) error { return d.run(ctx, dc, k, args, each) })
	if cerr := conn.Close(); err == nil && cerr != nil && !errors.Is(cerr, sql.ErrConnDone) {
		err = cerr
	}
	return err
}

// run is query on the driver connection dc.
func (d *driverReads) run(ctx context.Context, dc any, k int, args []driver.NamedValue, each func([]driver.Value) error) (err error) {
	if d.closing.Load() {
		d.release(dc)
		return errReadsClosed
	}
	defer func() {
		if d.closing.Load() {
			d.release(dc) // close may have missed this connection: it was in use
		}
	}()
	var cr *connReads
	if v, ok := d.conns.Load(dc); ok {
		cr = v.(*connReads)
	} else {
		cr = &connReads{}
		d.conns.Store(dc, cr)
	}
	st := cr.st[k]
	if st == nil {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("sqlstore: the SQLite driver's connection %T cannot prepare with a context", dc)
		}
		if st, err = p.PrepareContext(ctx, readSQL[k]); err != nil {
			return err
		}
		cr.st[k] = st
	}
	q, ok := st.(driver.StmtQueryContext)
	if !ok {
		return fmt.Errorf("sqlstore: the SQLite driver's statement %T cannot query with a context", st)
	}
	rows, err := q.QueryContext(ctx, args)
	if err != nil {
		return err
	}
	vals := make([]driver.Value, readCols[k])
	for {
		if err = rows.Next(vals); err != nil {
			break
		}
		if err = each(vals); err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	if err != nil && ctx.Err() != nil {
		// The driver reports a statement interrupted by ctx's end as
		// SQLite's "interrupted"; database/sql reported ctx's error.
		return ctx.Err()
	}
	return err
}

// release finalizes the statements prepared on dc (inside Raw).
func (d *driverReads) release(dc any) {
	v, ok := d.conns.LoadAndDelete(dc)
	if !ok {
		return
	}
	for _, st := range v.(*connReads).st {
		if st != nil {
			_ = st.Close()
		}
	}
}

// close finalizes every statement, before the pool's connections close (a
// statement left on a closed modernc connection would be finalized after
// its memory was freed). It takes the pool's connections one by one, all
// held until it is done, so each is a different one; a connection in use
// is waited for (for at most d.wait), and its call releases its
// statements itself when it ends (run).
func (d *driverReads) close(readers int) {
	d.closing.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), d.wait)
	defer cancel()
	var held []*sql.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for len(held) < readers && d.any() {
		c, err := d.db.Conn(ctx)
		if err != nil {
			return
		}
		held = append(held, c)
		_ = c.Raw(func(dc any) error { d.release(dc); return nil })
	}
}

// any reports whether some connection still has statements.
func (d *driverReads) any() bool {
	found := false
	d.conns.Range(func(any, any) bool { found = true; return false })
	return found
}
