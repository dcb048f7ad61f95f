package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
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
	return 0, driver.Invalidf(storage.ErrInvalidOption, "conflict mode %q: want fail, skip or overwrite", s)
}

// RestoreResult counts what one Restore call did with its records.
type RestoreResult struct {
	Inserted    int // new keys
	Unchanged   int // keys that already held identical content
	Overwritten int // conflicting keys replaced (ConflictOverwrite)
	Skipped     int // conflicting keys kept (ConflictSkip)
	Expired     int // records already expired by the store's clock, not written
	// NewNamespaces counts the namespaces the records' namespaces created
	// (they were missing); it is not part of Total.
	NewNamespaces int
}

// Add adds r2's counts to r.
func (r *RestoreResult) Add(r2 RestoreResult) {
	r.Inserted += r2.Inserted
	r.Unchanged += r2.Unchanged
	r.Overwritten += r2.Overwritten
	r.Skipped += r2.Skipped
	r.Expired += r2.Expired
	r.NewNamespaces += r2.NewNamespaces
}

// Total is the number of records the result accounts for.
func (r RestoreResult) Total() int {
	return r.Inserted + r.Unchanged + r.Overwritten + r.Skipped + r.Expired
}

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
		return driver.Invalidf(storage.ErrInvalidValue, "value is missing")
	}
	if _, err := driver.EncodeValue(r.Value, maxValueSize); err != nil {
		return err
	}
	if len(r.Metadata) == 0 {
		return driver.Invalidf(storage.ErrInvalidValue, "metadata is missing")
	}
	if _, err := driver.CheckMetadataJSON(r.Metadata, maxValueSize); err != nil {
		return err
	}
	if r.Version < 1 {
		return driver.Invalidf(storage.ErrInvalidValue, "version %d: must be at least 1", r.Version)
	}
	if r.CreatedAt.IsZero() || r.UpdatedAt.IsZero() {
		return driver.Invalidf(storage.ErrInvalidValue, "created_at and updated_at are required")
	}
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"created_at", r.CreatedAt}, {"updated_at", r.UpdatedAt}, {"expires_at", r.ExpiresAt}} {
		if err := CheckTime(t.name, t.at); err != nil {
			return err
		}
	}
	return nil
}

// CheckTime validates a time of a record (Record's, NamespaceRecord's
// CreatedAt) as Restore and RestoreNamespace do: RFC 3339 must spell it in
// UTC, its year 0 to 9999, else ErrInvalidValue. The wire and a dump carry
// every stored time so; a stored time they cannot carry would fail every
// read of its entry (or namespace) over the wire, every page it lands in,
// and every export. name names the field in the message. The zero time
// (none) passes.
func CheckTime(name string, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return driver.Invalidf(storage.ErrInvalidValue, "%s %s: the year in UTC is outside 0 to 9999, which RFC 3339 (the wire, a dump) can carry", name, t.Format(time.RFC3339Nano))
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
//
// rec.Indexes (declared fields, validated as storage.WithIndexes does) never
// conflict: they are added to the namespace's declared indexes (a union, in
// every outcome but a failure; "unchanged" becomes "updated" when that adds
// any), and their index rows are built in the same transaction, as
// CreateNamespace does; a field the namespace already records is left as
// it is. A union of more than storage.MaxIndexes fields fails with
// storage.ErrInvalidOption, changing nothing.
func (s *Store) RestoreNamespace(ctx context.Context, rec NamespaceRecord, mode ConflictMode) (string, error) {
	const op = "restoreNamespace"
	defer s.feed.signal()
	if _, err := s.startWrite(ctx, op, "", 0, nil); err != nil {
		return "", err
	}
	name, err := storage.ParseNamespace(rec.Name)
	if err != nil {
		return "", s.failCtx(ctx, op, rec.Name, "", err)
	}
	md, err := driver.CheckMetadataJSON(rec.Metadata, s.cfg.maxValueSize)
	if err != nil {
		return "", s.failCtx(ctx, op, rec.Name, "", err)
	}
	if rec.CreatedAt.IsZero() {
		return "", s.failCtx(ctx, op, rec.Name, "", driver.Invalidf(storage.ErrInvalidValue, "created_at is required"))
	}
	if err := CheckTime("created_at", rec.CreatedAt); err != nil {
		return "", s.failCtx(ctx, op, rec.Name, "", err)
	}
	fields, err := parseIndexes(rec.Indexes)
	if err != nil {
		return "", s.failCtx(ctx, op, rec.Name, "", err)
	}
	indexes := indexTexts(fields)
	created := rec.CreatedAt.UTC().Truncate(time.Microsecond)
	var outcome string
	err = s.yieldingTx(ctx, func(q querier) error {
		n, err := q.lockNamespace(ctx, name.Name)
		if errors.Is(err, errNoRow) {
			ok, err := q.createNamespace(ctx, name, md, encodeIndexes(indexes), created)
			if err == nil && !ok {
				err = storage.ErrNamespaceExists
			}
			outcome = "created"
			if err != nil || len(fields) == 0 {
				return err
			}
			if n, err = q.lockNamespace(ctx, name.Name); err != nil {
				return err
			}
			return s.addIndexFields(ctx, q, n.ID, fields)
		}
		if err != nil {
			return err
		}
		cur, err := q.dumpNamespace(ctx, name.Name)
		if err != nil {
			return fmt.Errorf("namespace %q: %w", name.Name, err)
		}
		sameMD := JSONEqual(cur.Metadata, md)
		same := sameMD && cur.CreatedAt.Equal(created)
		update := false
		switch {
		case same:
			outcome = "unchanged"
		case n.EntryCount == 0 || JSONEqual(cur.Metadata, []byte("{}")):
			outcome, update = "updated", true
		case sameMD:
			outcome = "unchanged" // the entries are what matter; keep its time
		case mode == ConflictSkip:
			outcome = "skipped"
		case mode == ConflictOverwrite:
			outcome, update = "overwritten", true
		default:
			return conflictf("the namespace exists with other metadata (%s, the record has %s)", cur.Metadata, md)
		}
		if update {
			if err := q.restoreUpdateNamespace(ctx, n.ID, md, created); err != nil {
				return err
			}
			if err := s.stampNamespaceChange(ctx, q, name.Name, "namespace_metadata"); err != nil {
				return err
			}
		}
		merged, added := mergeIndexes(cur.Indexes, indexes)
		if len(merged) > storage.MaxIndexes {
			return driver.Invalidf(storage.ErrInvalidOption, "indexes: the namespace would declare %d indexes, more than the maximum %d",
				len(merged), storage.MaxIndexes)
		}
		if added {
			if outcome == "unchanged" {
				outcome = "updated"
			}
			if err := q.restoreNamespaceIndexes(ctx, n.ID, encodeIndexes(merged)); err != nil {
				return err
			}
		}
		// The declaration and index_fields change together, under the
		// namespace's lock (the write triggers rely on it, migrations/
		// postgres 00024); a field already recorded is left as it is.
		return s.addIndexFields(ctx, q, n.ID, fields)
	})
	s.nsIDs.forget(name.Name)
	if err != nil {
		return "", s.failCtx(ctx, op, rec.Name, "", err)
	}
	return outcome, nil
}

// Restore writes a batch of records with their versions, times and audit
// actors exactly as they are, in one transaction: either every record is
// accounted for in the result, or nothing is written and the error says why
// (a *RecordError names the record for an invalid record or a conflict). A
// record's namespace is created when missing (empty metadata, the record's
// creation time). A key that already holds identical content is unchanged;
// one that holds other content is handled by mode; one whose entry has
// expired is treated as missing. A record whose ExpiresAt has passed by the
// store's clock is not written and counted as Expired. Records must name
// distinct keys. The store's capacity applies. Entry counts are kept by the
// database's triggers, as for every write.
func (s *Store) Restore(ctx context.Context, recs []Record, mode ConflictMode) (RestoreResult, error) {
	const op = "restore"
	defer s.feed.signal()
	var res RestoreResult
	if _, err := s.startWrite(ctx, op, "", 0, nil); err != nil {
		return res, err
	}
	index := make(map[nsKey]int, len(recs))
	nss := map[string]storage.NamespaceName{}
	firstCreated := map[string]time.Time{}
	for i := range recs {
		r := &recs[i]
		if err := CheckRecord(*r, s.cfg.maxValueSize); err != nil {
			return res, s.failCtx(ctx, op, r.Namespace, r.Key, &RecordError{Index: i, Namespace: r.Namespace, Key: r.Key, Err: err})
		}
		k := nsKey{r.Namespace, r.Key}
		if j, dup := index[k]; dup {
			return res, s.failCtx(ctx, op, r.Namespace, r.Key, &RecordError{Index: i, Namespace: r.Namespace, Key: r.Key,
				Err: driver.Invalidf(storage.ErrInvalidKey, "the key appears twice in the batch (records %d and %d)", j, i)})
		}
		index[k] = i
		if _, ok := nss[r.Namespace]; !ok {
			nss[r.Namespace], _ = storage.ParseNamespace(r.Namespace)
			firstCreated[r.Namespace] = r.CreatedAt.UTC().Truncate(time.Microsecond)
		}
	}
	now := s.now()
	expired := 0
	live := recs[:0:0]
	for _, r := range recs {
		if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
			expired++
			continue
		}
		live = append(live, r)
	}
	if expired > 0 {
		recs = live
	}
	if len(recs) == 0 {
		return RestoreResult{Expired: expired}, nil
	}
	err := s.eng.inTx(ctx, func(q querier) error {
		res = RestoreResult{Expired: expired}
		if s.cfg.capacity > 0 {
			if err := q.capacityLock(ctx); err != nil {
				return err
			}
		}
		names := make([]string, 0, len(nss))
		for name := range nss {
			names = append(names, name)
		}
		ids, err := q.restoreNamespaceIDs(ctx, names)
		if err != nil {
			return err
		}
		if len(ids) < len(names) {
			// Create the missing namespaces, and count them.
			have := make(map[string]bool, len(ids))
			for _, name := range ids {
				have[name] = true
			}
			for _, name := range names {
				if have[name] {
					continue
				}
				if err := q.ensureNamespace(ctx, nss[name], firstCreated[name]); err != nil {
					return err
				}
				res.NewNamespaces++
			}
			if ids, err = q.restoreNamespaceIDs(ctx, names); err != nil {
				return err
			}
		}
		// Insert what is new; read back only the keys that were there.
		all := make([]*Record, len(recs))
		for i := range recs {
			all[i] = &recs[i]
		}
		written, err := q.restoreInsert(ctx, all, now)
		if err != nil {
			return err
		}
		inserted := make(map[nsKey]bool, len(written))
		for _, w := range written {
			inserted[nsKey{ids[w.NamespaceID], w.Key}] = true
		}
		if len(inserted) < len(recs) {
			// An expired row under a key is as good as missing: remove the
			// rows of the keys not inserted that have expired, and insert
			// again.
			if err := s.restoreOverExpired(ctx, q, recs, ids, inserted, now); err != nil {
				return err
			}
		}
		res.Inserted = len(inserted)
		if len(inserted) == len(recs) {
			return s.restoreCapacity(ctx, q, now)
		}
		var rest []Record
		var restIdx []int
		for i, r := range recs {
			if !inserted[nsKey{r.Namespace, r.Key}] {
				rest, restIdx = append(rest, r), append(restIdx, i)
			}
		}
		// The statements from here on join the batch to entries: plan them
		// for their parameters (see restorePlans). The insert above needs
		// no such care (its plan never scans entries), and a batch of new
		// keys, the common case of an import, is spared the planning.
		if err := q.restorePlans(ctx); err != nil {
			return err
		}
		stored, err := q.restoreExisting(ctx, rest)
		if err != nil {
			return err
		}
		existing := make(map[nsKey]Record, len(stored))
		for _, rec := range stored {
			existing[nsKey{rec.Namespace, rec.Key}] = rec
		}
		var replace []*Record
		drop := map[string][]string{} // namespace -> keys to replace
		for j := range rest {
			r, i := &rest[j], restIdx[j]
			cur, found := existing[nsKey{r.Namespace, r.Key}]
			if !found {
				// Its namespace, or the entry that kept it from being
				// inserted, was deleted by a transaction that committed
				// between the two statements (PostgreSQL, read committed).
				return restoreRaced(r.Namespace, r.Key)
			}
			diff := recordDiff(cur, *r)
			switch {
			case diff == "":
				res.Unchanged++
			case mode == ConflictSkip:
				res.Skipped++
			case mode == ConflictOverwrite:
				drop[r.Namespace] = append(drop[r.Namespace], r.Key)
				replace = append(replace, r)
				res.Overwritten++
			default:
				return &RecordError{Index: i, Namespace: r.Namespace, Key: r.Key,
					Err: conflictf("the key holds other content (%s)", diff)}
			}
		}
		if len(replace) > 0 {
			for ns, keys := range drop {
				if _, err := q.deleteEntries(ctx, ns, keys, now); err != nil {
					return err
				}
			}
			w, err := q.restoreInsert(ctx, replace, now)
			if err != nil {
				return err
			}
			if len(w) != len(replace) {
				// A concurrent write recreated a key, or a delete removed
				// its namespace, after deleteEntries.
				r := replace[0]
				return restoreRaced(r.Namespace, r.Key)
			}
		}
		return s.restoreCapacity(ctx, q, now)
	})
	if err != nil {
		var re *RecordError
		ns, key := "", ""
		if errors.As(err, &re) {
			ns, key = re.Namespace, re.Key
		}
		return RestoreResult{}, s.failCtx(ctx, op, ns, key, err)
	}
	return res, nil
}

// nsKey names an entry of a restore batch.
type nsKey struct{ ns, key string }

// restoreRaced is the error of an import whose rows a concurrent
// transaction changed between its statements: a recursive DeleteNamespace
// or a Clear that removed a namespace or an entry it had read, a write that
// recreated a key it had deleted. As for a single write that lost its
// namespace (errclass.go), it is ErrTxConflict: running it again resolves
// it.
func restoreRaced(ns, key string) error {
	return fmt.Errorf("%w: namespace %q key %q: a concurrent delete, clear or write changed it during the import",
		storage.ErrTxConflict, ns, key)
}

// restoreOverExpired removes the expired rows under the keys of recs that
// are not in inserted, writes those records, and adds them to inserted.
func (s *Store) restoreOverExpired(ctx context.Context, q querier, recs []Record, ids map[int64]string, inserted map[nsKey]bool, now time.Time) error {
	byNS := map[string][]string{}
	for _, r := range recs {
		if !inserted[nsKey{r.Namespace, r.Key}] {
			byNS[r.Namespace] = append(byNS[r.Namespace], r.Key)
		}
	}
	purged := 0
	for ns, keys := range byNS {
		n, err := s.deleteExpiredKeys(ctx, q, ns, keys, now)
		if err != nil {
			return err
		}
		purged += int(n)
	}
	if purged == 0 {
		return nil
	}
	var again []*Record
	for i := range recs {
		if !inserted[nsKey{recs[i].Namespace, recs[i].Key}] {
			again = append(again, &recs[i])
		}
	}
	written, err := q.restoreInsert(ctx, again, now)
	if err != nil {
		return err
	}
	for _, w := range written {
		inserted[nsKey{ids[w.NamespaceID], w.Key}] = true
	}
	return nil
}

// restoreCapacity fails when the store holds more than its capacity.
func (s *Store) restoreCapacity(ctx context.Context, q querier, now time.Time) error {
	if s.cfg.capacity == 0 {
		return nil
	}
	n, _, err := q.stats(ctx, now)
	if err != nil {
		return err
	}
	if n > s.cfg.capacity {
		return s.errCapacity()
	}
	return nil
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
	if !cur.ExpiresAt.Equal(rec.ExpiresAt.Truncate(time.Microsecond)) {
		d = append(d, "expires_at")
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
// decimals (1.0 equals 1, 1e2 equals 100). Invalid JSON equals nothing. It is
// jsonx.Equal, the comparison Restore uses to tell an unchanged entry from a
// conflict, exported for the tools and tests that check a restore.
func JSONEqual(a, b []byte) bool { return jsonx.Equal(a, b) }
