package sqlstore

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Reading an entry's row (GetEntry, GetEntries) from the wire.
//
// pgx's Scan prepares a scan plan per column on every query (an
// allocation or more each) and copies each []byte on its own; for the nine
// columns of an entry that is about a dozen allocations and several µs of
// client CPU per Get, a fifth of its client time
// (bench/results/2026-12-03-pgget.md). entryScan decodes the row's
// values itself when they come in the formats pgx asks for in its
// statement-caching exec modes (text and jsonb as text, bigint and
// timestamptz binary), with the value and the metadata in one allocation;
// in any other case (another exec mode, such as a pooler's simple
// protocol, a NULL where none is expected, an infinite time, a column of
// another type) it leaves the row to pgx's Scan as before, so the results
// and errors are pgx's.

// pgEntryOIDs are the types of an entry row's columns: key, value,
// metadata, version, created_at, updated_at, expires_at, revision,
// create_revision.
var pgEntryOIDs = [...]uint32{pgtype.TextOID, pgtype.JSONBOID, pgtype.JSONBOID, pgtype.Int8OID,
	pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.Int8OID, pgtype.Int8OID}

// pgEntryFormats are the formats decodeEntry reads each column in.
var pgEntryFormats = [...]int16{pgtype.TextFormatCode, pgtype.TextFormatCode, pgtype.TextFormatCode, pgtype.BinaryFormatCode,
	pgtype.BinaryFormatCode, pgtype.BinaryFormatCode, pgtype.BinaryFormatCode, pgtype.BinaryFormatCode, pgtype.BinaryFormatCode}

// entryScanViaPgx leaves every entry row to pgx's Scan, as before
// decodeEntry: only the tests set it (the A/B of TestPGGetCost, and the
// comparison of the two in TestPGDecodeEntryAsScan).
var entryScanViaPgx atomic.Bool

// entryScan reads entry rows (GetEntry, GetEntries): decodeEntry's,
// or else pgx's Scan into dest (prepared once for all the rows of a query,
// so that pgx keeps its scan plans and nothing escapes per row).
type entryScan struct {
	r    row
	exp  *time.Time
	dest []any
}

// scan reads the current row of rows. key is the key asked for ("" when
// unknown): when the row's key is the same, the row takes key rather than
// a copy.
func (s *entryScan) scan(rows pgx.Rows, key string) (row, error) {
	var r row
	if !entryScanViaPgx.Load() && decodeEntry(rows.FieldDescriptions(), rows.RawValues(), &r, key) {
		return r, nil
	}
	if s.dest == nil {
		s.dest = []any{&s.r.Key, &s.r.Value, &s.r.Metadata, &s.r.Version, &s.r.CreatedAt, &s.r.UpdatedAt, &s.exp, &s.r.Revision, &s.r.CreateRevision}
	}
	s.r.Value, s.r.Metadata, s.exp = nil, nil, nil // each row its own slices
	if err := rows.Scan(s.dest...); err != nil {
		return row{}, err
	}
	r = s.r
	r.CreatedAt, r.UpdatedAt, r.ExpiresAt = utc(r.CreatedAt), utc(r.UpdatedAt), fromOptTime(s.exp)
	return r, nil
}

// decodeEntry decodes an entry row's values vs, described by fds, into
// r, as pgx's Scan would (times in UTC); false, leaving r alone, when they
// are not as it expects.
func decodeEntry(fds []pgconn.FieldDescription, vs [][]byte, r *row, key string) bool {
	if len(fds) != len(pgEntryOIDs) || len(vs) != len(pgEntryOIDs) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != pgEntryOIDs[i] || fd.Format != pgEntryFormats[i] {
			return false
		}
		if vs[i] == nil && i != 6 { // only expires_at may be NULL
			return false
		}
	}
	var ints [3]int64
	for j, i := range [3]int{3, 7, 8} {
		if len(vs[i]) != 8 {
			return false
		}
		ints[j] = int64(binary.BigEndian.Uint64(vs[i])) //nolint:gosec // the two's complement bits of a bigint
	}
	var times [3]time.Time
	for j, i := range [3]int{4, 5, 6} {
		if vs[i] == nil {
			continue
		}
		t, ok := pgTimestamptz(vs[i])
		if !ok {
			return false
		}
		times[j] = t
	}
	// jsonb in text format is the document's text, as pgx's []byte scan
	// copies it.
	v, md := vs[1], vs[2]
	buf := make([]byte, len(v)+len(md))
	copy(buf, v)
	copy(buf[len(v):], md)
	*r = row{Key: key, Value: buf[:len(v):len(v)], Metadata: buf[len(v):], Version: ints[0], Revision: ints[1], CreateRevision: ints[2],
		CreatedAt: times[0], UpdatedAt: times[1], ExpiresAt: times[2]}
	if string(vs[0]) != key {
		r.Key = string(vs[0])
	}
	return true
}

// pgTimestamptz decodes a timestamptz in binary format, as pgx does, in
// UTC; false for an infinite one (which pgx refuses to scan into a
// time.Time) or a value of the wrong size.
func pgTimestamptz(b []byte) (time.Time, bool) {
	const y2k = 946_684_800 * 1_000_000 // microseconds from the Unix epoch to 2000-01-01
	if len(b) != 8 {
		return time.Time{}, false
	}
	us := int64(binary.BigEndian.Uint64(b)) //nolint:gosec // the two's complement bits of an int64
	if us == -1<<63 || us == 1<<63-1 {
		return time.Time{}, false
	}
	return time.Unix(y2k/1_000_000+us/1_000_000, (y2k%1_000_000*1_000)+(us%1_000_000*1_000)).UTC(), true
}
