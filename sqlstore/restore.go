package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dialect"
)

// ConflictMode is what Restore does with a record whose key already holds
// different content (another value, metadata, version, time or actor).
// A key that holds identical content is always left alone and counted as
// unchanged, whatever the mode: that is what makes a restore idempotent.
type ConflictMode int

const (
	// ConflictFail fails the batch with a *RecordError wrapping
	// storage.ErrAlreadyExists.
	ConflictFail ConflictMode = iota
	// ConflictSkip keeps what the store holds.
	ConflictSkip
	// ConflictOverwrite replaces the stored entry with the record.
	ConflictOverwrite
)

// String returns "fail", "skip" or "overwrite".
func (m ConflictMode) String() string {
	switch m {
	case ConflictFail:
		return "fail"
	case ConflictSkip:
		return "skip"
	case ConflictOverwrite:
		return "overwrite"
	}
	return fmt.Sprintf("ConflictMode(%d)", int(m))
}

// ParseConflictMode reads "fail" (or "error", or ""), "skip" or "overwrite".
func ParseConflictMode(s string) (ConflictMode, error) {
	switch s {
	case "", "fail", "error":
		return ConflictFail, nil
	case "skip":
		return ConflictSkip, nil
	case "overwrite":
		return ConflictOverwrite, nil
	}
	return 0, storage.Invalidf(storage.ErrInvalidOption, "conflict mode %q: want fail, skip or overwrite", s)
}

// RestoreResult counts what one Restore call did with its records.
type RestoreResult struct {
	Inserted    int // new keys
	Unchanged   int // keys that already held identical content
	Overwritten int // conflicting keys replaced (ConflictOverwrite)
	Skipped     int // conflicting keys kept (ConflictSkip)
}

// Add adds r2's counts to r.
func (r *RestoreResult) Add(r2 RestoreResult) {
	r.Inserted += r2.Inserted
	r.Unchanged += r2.Unchanged
	r.Overwritten += r2.Overwritten
	r.Skipped += r2.Skipped
}

// Total is the number of records the result accounts for.
func (r RestoreResult) Total() int { return r.Inserted + r.Unchanged + r.Overwritten + r.Skipped }

// RecordError is why Restore refused one record of its batch. Err wraps a
// *storage.ValidationError for an invalid record, or storage.ErrAlreadyExists
// for a conflict under ConflictFail.
type RecordError struct {
	Index     int // the record's index in the batch
	Namespace string
	Key       string // "" for a namespace record
	Err       error
}

// Error is Err's message: the *storage.OpError around a RecordError names
// the namespace and key.
func (e *RecordError) Error() string { return e.Err.Error() }

func (e *RecordError) Unwrap() error { return e.Err }

// conflictf is a conflict: the key or namespace holds other content.
func conflictf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", storage.ErrAlreadyExists, fmt.Sprintf(format, args...))
}

// CheckRecord validates a record as Restore does, against maxValueSize
// (0 = storage.DefaultMaxValueSize).
func CheckRecord(r Record, maxValueSize int) error {
	if _, err := storage.ParseNamespace(r.Namespace); err != nil {
		return err
	}
	if err := storage.ValidateKey(r.Key); err != nil {
		return err
	}
	if len(r.Value) == 0 {
		return storage.Invalidf(storage.ErrInvalidValue, "value is missing")
	}
	if _, err := storage.EncodeValue(r.Value, maxValueSize); err != nil {
		return err
	}
	if len(r.Metadata) == 0 {
		return storage.Invalidf(storage.ErrInvalidValue, "metadata is missing")
	}
	if _, err := storage.CheckMetadataJSON(r.Metadata, maxValueSize); err != nil {
		return err
	}
	if r.Version < 1 {
		return storage.Invalidf(storage.ErrInvalidValue, "version %d: must be at least 1", r.Version)
	}
	if r.CreatedAt.IsZero() || r.UpdatedAt.IsZero() {
		return storage.Invalidf(storage.ErrInvalidValue, "created_at and updated_at are required")
	}
	return nil
}

// RestoreNamespace makes the store hold the namespace rec describes. A
// missing namespace is created with rec's metadata and creation time. An
// existing namespace that holds no entries, or holds the empty metadata {}
// (as one created by a write does), takes rec's metadata and creation time:
// so a fresh store's default namespace matches its source. Another existing
// namespace must hold the same metadata, else it is a conflict: ConflictFail
// fails with an error wrapping storage.ErrAlreadyExists, ConflictSkip keeps it, ConflictOverwrite
// replaces its metadata and creation time. The outcome is "created",
// "updated", "unchanged", "skipped" or "overwritten".
func (s *Store) RestoreNamespace(ctx context.Context, rec NamespaceRecord, mode ConflictMode) (string, error) {
	const op = "restoreNamespace"
	if _, err := s.startWrite(ctx, op, 0, nil); err != nil {
		return "", err
	}
	name, err := storage.ParseNamespace(rec.Name)
	if err != nil {
		return "", s.fail(op, rec.Name, "", err)
	}
	md, err := storage.CheckMetadataJSON(rec.Metadata, s.cfg.maxValueSize)
	if err != nil {
		return "", s.fail(op, rec.Name, "", err)
	}
	if rec.CreatedAt.IsZero() {
		return "", s.fail(op, rec.Name, "", storage.Invalidf(storage.ErrInvalidValue, "created_at is required"))
	}
	created := rec.CreatedAt.UTC().Truncate(time.Microsecond)
	sq := s.dumpSQL()
	pg := s.Dialect() == dialect.Postgres
	var outcome string
	err = s.eng.inTx(ctx, func(q querier) error {
		n, err := q.lockNamespace(ctx, name.Name)
		if errors.Is(err, errNoRow) {
			ok, err := q.createNamespace(ctx, name, md, created)
			if err == nil && !ok {
				err = storage.ErrNamespaceExists
			}
			outcome = "created"
			return err
		}
		if err != nil {
			return err
		}
		var cur []nsScan
		err = q.queryRows(ctx, sq.namespace, []any{name.Name}, func(r rowScanner) error {
			ns := nsScan{crea: scanTime{pg: pg}}
			if err := r.Scan(ns.dests()...); err != nil {
				return err
			}
			cur = append(cur, ns)
			return nil
		})
		if err != nil {
			return err
		}
		if len(cur) != 1 {
			return fmt.Errorf("namespace %q vanished", name.Name)
		}
		sameMD := JSONEqual([]byte(cur[0].md), md)
		same := sameMD && cur[0].crea.time().Equal(created)
		switch {
		case same:
			outcome = "unchanged"
			return nil
		case n.EntryCount == 0 || JSONEqual([]byte(cur[0].md), []byte("{}")):
			outcome = "updated"
		case sameMD:
			outcome = "unchanged" // the entries are what matter; keep its time
			return nil
		case mode == ConflictSkip:
			outcome = "skipped"
			return nil
		case mode == ConflictOverwrite:
			outcome = "overwritten"
		default:
			return conflictf("the namespace exists with other metadata (%s, the record has %s)", cur[0].md, md)
		}
		_, err = q.exec(ctx, sq.updateNamespace, string(md), s.timeArg(created), n.ID)
		return err
	})
	if err != nil {
		return "", s.fail(op, rec.Name, "", err)
	}
	return outcome, nil
}

// Restore writes a batch of records with their versions, times and audit
// actors exactly as they are, in one transaction: either every record is
// accounted for in the result, or nothing is written and the error says why
// (a *RecordError names the record for an invalid record or a conflict). A
// record's namespace is created when missing (empty metadata, the record's
// creation time). A key that already holds identical content is unchanged;
// one that holds other content is handled by mode. Records must name
// distinct keys. The store's capacity applies. Entry counts are kept by the
// database's triggers, as for every write.
func (s *Store) Restore(ctx context.Context, recs []Record, mode ConflictMode) (RestoreResult, error) {
	const op = "restore"
	var res RestoreResult
	if _, err := s.startWrite(ctx, op, 0, nil); err != nil {
		return res, err
	}
	type nsKey struct{ ns, key string }
	index := make(map[nsKey]int, len(recs))
	nss := map[string]storage.NamespaceName{}
	firstCreated := map[string]time.Time{}
	for i := range recs {
		r := &recs[i]
		if err := CheckRecord(*r, s.cfg.maxValueSize); err != nil {
			return res, s.fail(op, r.Namespace, r.Key, &RecordError{Index: i, Namespace: r.Namespace, Key: r.Key, Err: err})
		}
		k := nsKey{r.Namespace, r.Key}
		if j, dup := index[k]; dup {
			return res, s.fail(op, r.Namespace, r.Key, &RecordError{Index: i, Namespace: r.Namespace, Key: r.Key,
				Err: storage.Invalidf(storage.ErrInvalidKey, "the key appears twice in the batch (records %d and %d)", j, i)})
		}
		index[k] = i
		if _, ok := nss[r.Namespace]; !ok {
			nss[r.Namespace], _ = storage.ParseNamespace(r.Namespace)
			firstCreated[r.Namespace] = r.CreatedAt.UTC().Truncate(time.Microsecond)
		}
	}
	if len(recs) == 0 {
		return res, nil
	}
	sq := s.dumpSQL()
	pg := s.Dialect() == dialect.Postgres
	err := s.eng.inTx(ctx, func(q querier) error {
		res = RestoreResult{}
		if pg {
			// A generic plan made while the table was small joins the
			// batch to entries by a nested loop over a sequential scan,
			// which makes a large restore quadratic: plan every batch.
			if _, err := q.exec(ctx, "SET LOCAL plan_cache_mode = force_custom_plan"); err != nil {
				return err
			}
		}
		if s.cfg.capacity > 0 {
			if err := q.capacityLock(ctx); err != nil {
				return err
			}
		}
		for name, ns := range nss {
			if err := q.ensureNamespace(ctx, ns, firstCreated[name]); err != nil {
				return err
			}
		}
		// Insert what is new; read back only the keys that were there.
		ids := make(map[int64]string, len(nss))
		var id int64
		var name string
		err := q.queryRows(ctx, sq.namespaceIDs, s.namesArg(nss), func(r rowScanner) error {
			if err := r.Scan(&id, &name); err != nil {
				return err
			}
			ids[id] = name
			return nil
		})
		if err != nil {
			return err
		}
		all := make([]*Record, len(recs))
		for i := range recs {
			all[i] = &recs[i]
		}
		inserted := make(map[nsKey]bool, len(recs))
		var key string
		err = q.queryRows(ctx, sq.insertNew, s.insertArgs(all), func(r rowScanner) error {
			if err := r.Scan(&id, &key); err != nil {
				return err
			}
			inserted[nsKey{ids[id], key}] = true
			return nil
		})
		if err != nil {
			return err
		}
		res.Inserted = len(inserted)
		if len(inserted) == len(recs) {
			return s.restoreCapacity(ctx, q)
		}
		var rest []Record
		var restIdx []int
		for i, r := range recs {
			if !inserted[nsKey{r.Namespace, r.Key}] {
				rest, restIdx = append(rest, r), append(restIdx, i)
			}
		}
		existing := make(map[nsKey]Record, len(rest))
		rs := newRecScan(pg, true)
		err = q.queryRows(ctx, sq.existing, s.existingArgs(rest), func(r rowScanner) error {
			if err := r.Scan(rs.dests()...); err != nil {
				return err
			}
			rec := rs.record()
			existing[nsKey{rec.Namespace, rec.Key}] = rec
			return nil
		})
		if err != nil {
			return err
		}
		var replace []*Record
		for j := range rest {
			r, i := &rest[j], restIdx[j]
			cur, found := existing[nsKey{r.Namespace, r.Key}]
			if !found {
				return fmt.Errorf("namespace %q key %q: neither inserted nor found", r.Namespace, r.Key)
			}
			diff := recordDiff(cur, *r)
			switch {
			case diff == "":
				res.Unchanged++
			case mode == ConflictSkip:
				res.Skipped++
			case mode == ConflictOverwrite:
				if _, err := q.exec(ctx, sq.deleteOne, r.Namespace, r.Key); err != nil {
					return err
				}
				replace = append(replace, r)
				res.Overwritten++
			default:
				return &RecordError{Index: i, Namespace: r.Namespace, Key: r.Key,
					Err: conflictf("the key holds other content (%s)", diff)}
			}
		}
		if len(replace) > 0 {
			n, err := q.exec(ctx, sq.insert, s.insertArgs(replace)...)
			if err != nil {
				return err
			}
			if n != int64(len(replace)) {
				return fmt.Errorf("inserted %d rows of %d", n, len(replace))
			}
		}
		return s.restoreCapacity(ctx, q)
	})
	if err != nil {
		var re *RecordError
		ns, key := "", ""
		if errors.As(err, &re) {
			ns, key = re.Namespace, re.Key
		}
		return RestoreResult{}, s.fail(op, ns, key, err)
	}
	return res, nil
}

// restoreCapacity fails when the store holds more than its capacity.
func (s *Store) restoreCapacity(ctx context.Context, q querier) error {
	if s.cfg.capacity == 0 {
		return nil
	}
	n, _, err := q.stats(ctx)
	if err != nil {
		return err
	}
	if n > s.cfg.capacity {
		return s.errCapacity()
	}
	return nil
}

// namesArg binds the namespace names for dumpSQL.namespaceIDs.
func (s *Store) namesArg(nss map[string]storage.NamespaceName) []any {
	names := make([]string, 0, len(nss))
	for n := range nss {
		names = append(names, n)
	}
	if s.Dialect() == dialect.Postgres {
		return []any{names}
	}
	return []any{jsonKeysExact(names)}
}

// existingArgs binds the (namespace, key) pairs of recs for dumpSQL.existing.
func (s *Store) existingArgs(recs []Record) []any {
	if s.Dialect() == dialect.Postgres {
		nss, keys := make([]string, len(recs)), make([]string, len(recs))
		for i, r := range recs {
			nss[i], keys[i] = r.Namespace, r.Key
		}
		return []any{nss, keys}
	}
	n := 2
	for _, r := range recs {
		n += len(r.Namespace) + len(r.Key) + 8
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONString(b, r.Namespace)
		b = append(b, ',')
		b = appendJSONString(b, r.Key)
		b = append(b, ']')
	}
	return []any{string(append(b, ']'))}
}

// insertArgs binds recs for dumpSQL.insert: arrays on PostgreSQL, one JSON
// document on SQLite (values and metadata are checked JSON, embedded as
// they are).
func (s *Store) insertArgs(recs []*Record) []any {
	if s.Dialect() == dialect.Postgres {
		n := len(recs)
		nss, keys, vals, mds := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		vers := make([]int64, n)
		cs, us := make([]time.Time, n), make([]time.Time, n)
		cbs, ubs := make([]*string, n), make([]*string, n)
		for i, r := range recs {
			nss[i], keys[i], vals[i], mds[i] = r.Namespace, r.Key, string(r.Value), string(r.Metadata)
			vers[i] = r.Version
			cs[i], us[i] = r.CreatedAt.UTC().Truncate(time.Microsecond), r.UpdatedAt.UTC().Truncate(time.Microsecond)
			cbs[i], ubs[i] = optActor(r.CreatedBy), optActor(r.UpdatedBy)
		}
		return []any{nss, keys, vals, mds, vers, cs, us, cbs, ubs}
	}
	n := 2
	for _, r := range recs {
		n += len(r.Namespace) + len(r.Key) + len(r.Value) + len(r.Metadata) + len(r.CreatedBy) + len(r.UpdatedBy) + 96
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"n":`...)
		b = appendJSONString(b, r.Namespace)
		b = append(b, `,"k":`...)
		b = appendJSONString(b, r.Key)
		b = append(b, `,"v":`...)
		b = append(b, r.Value...)
		b = append(b, `,"m":`...)
		b = append(b, r.Metadata...)
		b = fmt.Appendf(b, `,"ver":%d,"c":%d,"u":%d`, r.Version, micros(r.CreatedAt), micros(r.UpdatedAt))
		if r.CreatedBy != "" {
			b = append(b, `,"cb":`...)
			b = appendJSONString(b, r.CreatedBy)
		}
		if r.UpdatedBy != "" {
			b = append(b, `,"ub":`...)
			b = appendJSONString(b, r.UpdatedBy)
		}
		b = append(b, '}')
	}
	return []any{string(append(b, ']'))}
}

func optActor(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// recordDiff names the fields in which two records of the same key differ,
// or returns "" when they are identical. Values and metadata compare by
// meaning (JSONEqual), times to the microsecond.
func recordDiff(cur, rec Record) string {
	var d []string
	if !JSONEqual(cur.Value, rec.Value) {
		d = append(d, "value")
	}
	if !JSONEqual(cur.Metadata, rec.Metadata) {
		d = append(d, "metadata")
	}
	if cur.Version != rec.Version {
		d = append(d, fmt.Sprintf("version %d, the record has %d", cur.Version, rec.Version))
	}
	if !cur.CreatedAt.Equal(rec.CreatedAt.Truncate(time.Microsecond)) {
		d = append(d, "created_at")
	}
	if !cur.UpdatedAt.Equal(rec.UpdatedAt.Truncate(time.Microsecond)) {
		d = append(d, "updated_at")
	}
	if cur.CreatedBy != rec.CreatedBy {
		d = append(d, "created_by")
	}
	if cur.UpdatedBy != rec.UpdatedBy {
		d = append(d, "updated_by")
	}
	if len(d) == 0 {
		return ""
	}
	out := "differs in "
	for i, s := range d {
		if i > 0 {
			out += ", "
		}
		out += s
	}
	return out
}

// JSONEqual reports whether two JSON texts mean the same: equal after
// decoding, object key order and whitespace aside, numbers compared as exact
// decimals (1.0 equals 1, 1e2 equals 100; numbers with exponents beyond
// ±400 only equal the same spelling). Invalid JSON equals nothing.
func JSONEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return json.Valid(a)
	}
	va, err := decodeJSON(a)
	if err != nil {
		return false
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return false
	}
	return jsonValueEqual(va, vb)
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// hugeExponent reports whether a JSON number has an exponent beyond any
// float64's: comparing it exactly would build a huge big.Rat.
func hugeExponent(n string) bool {
	i := strings.IndexAny(n, "eE")
	if i < 0 {
		return false
	}
	e, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
	return err != nil || e > 400 || e < -400
}

func jsonValueEqual(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonValueEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonValueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		if hugeExponent(string(x)) || hugeExponent(string(y)) {
			return false // not worth an exact comparison that may not fit in memory
		}
		rx, okx := new(big.Rat).SetString(string(x))
		ry, oky := new(big.Rat).SetString(string(y))
		return okx && oky && rx.Cmp(ry) == 0
	default: // string, bool, nil
		return a == b
	}
}
