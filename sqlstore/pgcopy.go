package sqlstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mycelia-kernel/storage/internal/pgdb"
)

// Large batch writes on PostgreSQL: COPY, then the same statement.
//
// The batch statements (UpsertEntries, UpsertEntriesKeepMetadata,
// InsertEntries, RestoreInsert) read their items from parallel arrays:
//
//	ROWS FROM (unnest($2::text[]), unnest($3::jsonb[]), ...) WITH ORDINALITY AS j (key, value, ..., ord)
//
// For a batch of at least copyMin items, copyDB sends the arrays' elements
// instead with COPY ... FROM STDIN BINARY into a temporary table, and runs
// the same generated statement with that row source, and only that,
// replaced:
//
//	pg_temp.storage_copy_<hash> AS j (key, value, ..., ord)
//
// (the array parameters dropped, the others renumbered). Everything else,
// the revisions, the change-log rows, the index rows, the conditions and
// the results, is the statement's, so the two paths cannot drift apart; a
// statement whose row source is not of that shape keeps its arrays.
//
// The temporary table is the session's, created by the first large batch
// of a server connection (CREATE TEMP TABLE IF NOT EXISTS) and emptied at
// every commit (ON COMMIT DELETE ROWS, which PostgreSQL skips for a
// transaction that touched no temporary table), and by the DELETE before
// each COPY (a second large batch in the same transaction). It needs only
// a transaction, not a session: through a pooler in transaction mode a
// server connection may or may not have it, and the IF NOT EXISTS covers
// both. It needs the TEMPORARY privilege on the database, which PUBLIC
// has by default: a role without it fails its batches of copyMin items or
// more (42501, insufficient privilege). Its name carries a hash of its
// columns, so a statement whose row source changes gets a table of its
// own, never an older one's. The
// CREATE, the DELETE and the COPY go in one simple-protocol message, so the
// COPY path costs one round trip more than the arrays; it runs before the
// revision lock (revlock.go), which is taken by the statement after it as
// before. The message also sets jit off for the rest of the transaction:
// the temporary table has no statistics, so the planner takes it for about
// three times its rows, and a batch of 10000 crossed the JIT's inlining
// and optimization thresholds (2.4 s of compilation for a 0.6 s statement).
//
// defaultCopyMin is the smallest batch that goes through COPY, chosen from
// TestCopyCost (bench/results/2026-12-02-pgcopy.md: server CPU per
// SetMany, arrays vs COPY, one declared index, interleaved rounds on a
// loaded machine): at 2000 and 5000 items COPY cost the server 1.14-1.20x
// (0.97x for 5000 overwrites), at 10000 0.81-0.95x, at 25000 0.89-0.92x;
// the client's CPU is 0.5-0.65x at every size, which pays for the
// server's extra only from about 5000 items.
const defaultCopyMin = 10000

// copyStmt is a batch statement rewritten to read a temporary table.
type copyStmt struct {
	sql   string    // the statement with the table as its row source
	load  string    // CREATE TEMP TABLE IF NOT EXISTS, DELETE, COPY
	cols  []copyCol // the table's columns but ord, in order
	keep  []int     // the arguments the rewritten statement takes, in order
	first int       // an array argument (its length is the batch's)
}

// copyCol is a column of the temporary table: the argument whose array
// fills it and the array's element type.
type copyCol struct {
	arg int
	typ string
}

var (
	rowsFromRE = regexp.MustCompile(`ROWS FROM \(((?:\s*unnest\(\$\d+::[a-z]+\[\]\),?)+)\s*\)\s*WITH ORDINALITY AS (\w+) \(([^)]*)\)`)
	unnestRE   = regexp.MustCompile(`unnest\(\$(\d+)::([a-z]+)\[\]\)`)
	paramRE    = regexp.MustCompile(`\$(\d+)\b`)
)

// copyTypes are the element types copyRows can send.
var copyTypes = map[string]bool{"text": true, "jsonb": true, "bigint": true, "boolean": true, "timestamptz": true}

// copyBatches counts the batches sent with COPY (tests).
var copyBatches atomic.Int64

// copyStmts caches rewriteForCopy by statement text (nil: not rewritable).
var copyStmts sync.Map

// copyable are the statements the COPY path may rewrite: the batch writes
// (the sweeper's LogChanges, say, reads arrays too, but is no batch of
// items).
var copyable = func() map[string]bool {
	m := map[string]bool{}
	for _, sql := range pgdb.BatchSQL {
		m[sql] = true
	}
	return m
}()

// copyStmtFor returns the COPY form of sql, or nil.
func copyStmtFor(sql string) *copyStmt {
	if c, ok := copyStmts.Load(sql); ok {
		return c.(*copyStmt)
	}
	var c *copyStmt
	if copyable[sql] {
		c = rewriteForCopy(sql)
	}
	copyStmts.Store(sql, c)
	return c
}

// rewriteForCopy replaces the statement's unnest row source by a
// temporary table, or returns nil when it has none of that shape.
func rewriteForCopy(sql string) *copyStmt {
	all := rowsFromRE.FindAllStringSubmatchIndex(sql, -1)
	if len(all) != 1 {
		return nil
	}
	m := all[0]
	unnests := unnestRE.FindAllStringSubmatch(sql[m[2]:m[3]], -1)
	alias := sql[m[4]:m[5]]
	names := strings.Split(sql[m[6]:m[7]], ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if len(names) != len(unnests)+1 || names[len(names)-1] != "ord" {
		return nil
	}
	c := &copyStmt{}
	removed := map[int]bool{}
	var defs, quoted []string
	for i, u := range unnests {
		n, _ := strconv.Atoi(u[1])
		if !copyTypes[u[2]] || removed[n] {
			return nil
		}
		removed[n] = true
		c.cols = append(c.cols, copyCol{arg: n - 1, typ: u[2]})
		defs = append(defs, pgx.Identifier{names[i]}.Sanitize()+" "+u[2])
		quoted = append(quoted, pgx.Identifier{names[i]}.Sanitize())
	}
	defs = append(defs, `"ord" bigint`)
	quoted = append(quoted, `"ord"`)
	h := fnv.New32a()
	h.Write([]byte(strings.Join(defs, ",")))
	table := fmt.Sprintf("pg_temp.storage_copy_%08x", h.Sum32())
	c.first = c.cols[0].arg
	rest := sql[:m[0]] + table + " AS " + alias + " (" + strings.Join(names, ", ") + ")" + sql[m[1]:]
	// Renumber the parameters left.
	highest := 0
	for _, p := range paramRE.FindAllStringSubmatch(rest, -1) {
		n, _ := strconv.Atoi(p[1])
		highest = max(highest, n)
	}
	renum := map[int]int{}
	for _, p := range paramRE.FindAllStringSubmatch(rest, -1) {
		if n, _ := strconv.Atoi(p[1]); removed[n] {
			return nil // an array used elsewhere too
		}
	}
	for n := 1; n <= highest; n++ {
		if !removed[n] {
			c.keep = append(c.keep, n-1)
			renum[n] = len(c.keep)
		}
	}
	c.sql = paramRE.ReplaceAllStringFunc(rest, func(p string) string {
		n, _ := strconv.Atoi(p[1:])
		return "$" + strconv.Itoa(renum[n])
	})
	c.load = "SET LOCAL jit = off;\n" +
		"CREATE TEMP TABLE IF NOT EXISTS " + table + " (" + strings.Join(defs, ", ") + ") ON COMMIT DELETE ROWS;\n" +
		"DELETE FROM " + table + ";\n" +
		"COPY " + table + " (" + strings.Join(quoted, ", ") + ") FROM STDIN BINARY"
	return c
}

// copyDB runs the batch statements of at least min items through COPY
// (see above) when it has a transaction's connection; every other
// statement goes to next unchanged.
type copyDB struct {
	next pgdb.DBTX
	tx   copyConner
	min  int
}

// copyConner gives a transaction's connection for a COPY, with the
// transaction begun.
type copyConner interface {
	copyConn(ctx context.Context) (*pgx.Conn, error)
}

// connCopy is a copyConner of pgx's transactions.
type connCopy struct{ tx interface{ Conn() *pgx.Conn } }

func (c connCopy) copyConn(context.Context) (*pgx.Conn, error) { return c.tx.Conn(), nil }

var _ pgdb.DBTX = copyDB{}

// forCopy returns the statement's COPY form when this call should use it.
func (d copyDB) forCopy(sql string, args []any) *copyStmt {
	if d.tx == nil || d.min <= 0 {
		return nil
	}
	large := false
	for _, a := range args {
		large = large || arrayLen(a) >= d.min
	}
	if !large {
		return nil
	}
	c := copyStmtFor(sql)
	if c == nil || c.first >= len(args) || arrayLen(args[c.first]) < d.min {
		return nil
	}
	return c
}

// run loads the arrays of args into the table and returns the arguments
// of the rewritten statement.
func (c *copyStmt) run(ctx context.Context, tx copyConner, args []any) ([]any, error) {
	data, err := c.encode(args)
	if err != nil {
		return nil, err
	}
	conn, err := tx.copyConn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(data), c.load); err != nil {
		// When the deadline stops the copy while it writes, pgconn closes
		// the connection from its writing goroutine and returns the error
		// of the next write on the closed connection ("use of closed
		// network connection"), not the context's: the caller's deadline
		// is the cause (classify passes it through; the transaction is
		// rolled back), not an unreachable database. A server's answer
		// stays what it is.
		var pe *pgconn.PgError
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) && !errors.As(err, &pe) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	copyBatches.Add(1)
	kept := make([]any, len(c.keep))
	for i, a := range c.keep {
		kept[i] = args[a]
	}
	return kept, nil
}

func (d copyDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if c := d.forCopy(sql, args); c != nil {
		kept, err := c.run(ctx, d.tx, args)
		if err != nil {
			return pgconn.CommandTag{}, err
		}
		return d.next.Exec(ctx, c.sql, kept...)
	}
	return d.next.Exec(ctx, sql, args...)
}

func (d copyDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if c := d.forCopy(sql, args); c != nil {
		kept, err := c.run(ctx, d.tx, args)
		if err != nil {
			return nil, err
		}
		return d.next.Query(ctx, c.sql, kept...)
	}
	return d.next.Query(ctx, sql, args...)
}

func (d copyDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if c := d.forCopy(sql, args); c != nil {
		kept, err := c.run(ctx, d.tx, args)
		if err != nil {
			return batchRow{err: err}
		}
		return d.next.QueryRow(ctx, c.sql, kept...)
	}
	return d.next.QueryRow(ctx, sql, args...)
}

// arrayLen is the length of a batch statement's array argument, -1 for
// another type.
func arrayLen(a any) int {
	switch v := a.(type) {
	case []string:
		return len(v)
	case [][]byte:
		return len(v)
	case []int64:
		return len(v)
	case []bool:
		return len(v)
	case []time.Time:
		return len(v)
	}
	return -1
}

// pgEpochMicros is 2000-01-01 UTC, PostgreSQL's timestamp epoch, in unix
// microseconds.
const pgEpochMicros = 946684800000000

// encode writes the arrays of args as COPY's binary format, a row per
// element, with ord the element's position from 1.
func (c *copyStmt) encode(args []any) ([]byte, error) {
	n := arrayLen(args[c.first])
	size := 21
	for _, col := range c.cols {
		if arrayLen(args[col.arg]) != n {
			return nil, fmt.Errorf("sqlstore: COPY of a batch: argument %d has %d elements, want %d", col.arg+1, arrayLen(args[col.arg]), n)
		}
		if v, ok := args[col.arg].([][]byte); ok {
			for _, b := range v {
				size += len(b) + 5
			}
		}
		if v, ok := args[col.arg].([]string); ok {
			for _, s := range v {
				size += len(s) + 4
			}
		}
	}
	size += n * (2 + 12 + 12*len(c.cols))
	b := make([]byte, 0, size)
	b = append(b, "PGCOPY\n\377\r\n\000"...)
	b = binary.BigEndian.AppendUint32(b, 0) // flags
	b = binary.BigEndian.AppendUint32(b, 0) // header extension
	for i := range n {
		b = binary.BigEndian.AppendUint16(b, uint16(len(c.cols)+1))
		for _, col := range c.cols {
			var err error
			if b, err = appendCopyValue(b, col.typ, args[col.arg], i); err != nil {
				return nil, err
			}
		}
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(i+1))
	}
	b = binary.BigEndian.AppendUint16(b, 0xffff) // trailer
	return b, nil
}

// appendCopyValue appends element i of arr as a field of COPY's binary
// format for type typ.
func appendCopyValue(b []byte, typ string, arr any, i int) ([]byte, error) {
	switch v := arr.(type) {
	case []string:
		if typ == "text" {
			b = binary.BigEndian.AppendUint32(b, uint32(len(v[i])))
			return append(b, v[i]...), nil
		}
	case [][]byte:
		if typ == "jsonb" {
			if v[i] == nil {
				return binary.BigEndian.AppendUint32(b, 0xffffffff), nil
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(v[i])+1))
			b = append(b, 1) // jsonb's binary format version
			return append(b, v[i]...), nil
		}
	case []int64:
		if typ == "bigint" {
			b = binary.BigEndian.AppendUint32(b, 8)
			return binary.BigEndian.AppendUint64(b, uint64(v[i])), nil
		}
	case []bool:
		if typ == "boolean" {
			b = binary.BigEndian.AppendUint32(b, 1)
			if v[i] {
				return append(b, 1), nil
			}
			return append(b, 0), nil
		}
	case []time.Time:
		if typ == "timestamptz" {
			b = binary.BigEndian.AppendUint32(b, 8)
			return binary.BigEndian.AppendUint64(b, uint64(v[i].UnixMicro()-pgEpochMicros)), nil
		}
	}
	return nil, fmt.Errorf("sqlstore: COPY of a batch: %T for a %s column", arr, typ)
}
