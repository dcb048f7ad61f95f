package sqlstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/mycelia-kernel/storage"
)

// TestPGGetCost measures the point reads of bench/peers (get of a present
// key, get of a missing key, has, getMany of 100 keys) on PostgreSQL beside
// bench/peers' hand-written pgx statements (rawpg.go), on the same data
// (STORAGE_PGGETCOST_N entries, default 100000, loadPeersPG), in
// interleaved rounds in one process: per operation the server CPU, the
// client's CPU, the wall time and the client's allocations (costRounds).
// Besides the Store's call (engine) and the raw program's (raw), the
// "stmt" variants run the engine's querier alone (pgQ: its statement and
// the scan of its row, without the Store's option resolution, validation
// and error wrapping), so that the gap splits into statement and layers.
// getMany's "s-name" and "s-id" are GetEntries' shape finding the
// namespace by name or by id; get's and miss's "s-union" is GetEntry by the
// namespace's id, a miss told from a stale id by a probe of namespaces
// (the form of HasEntryByID, which Has used on PostgreSQL until
// 2026-12-05), with no check of the id on a hit, which is wrong since
// migration 00034 (an unlinked namespace's entries keep its old id until
// purged); "s-live" and "s-unl" are that form with the check, against
// namespaces or against unlinked, for Get and Has (has's "s-name" is
// HasEntry's shape by name).
// It asserts nothing. Run it with STORAGE_PGGETCOST=1 and a PostgreSQL on
// this machine (STORAGE_PGGETCOST_ROUNDS, default 9; STORAGE_PGGETCOST_PER,
// calls per round, default 500; STORAGE_PGGETCOST_ONLY, a regexp of the
// variants to keep).
//
//	STORAGE_PGGETCOST=1 go test -run TestPGGetCost -v ./sqlstore
func TestPGGetCost(t *testing.T) {
	if os.Getenv("STORAGE_PGGETCOST") == "" {
		t.Skip("a measurement: set STORAGE_PGGETCOST=1 to run it")
	}
	rounds, keys, per := envInt("STORAGE_PGGETCOST_ROUNDS", 9), envInt("STORAGE_PGGETCOST_N", 100000), envInt("STORAGE_PGGETCOST_PER", 500)
	ctx := t.Context()
	const ns = peersNS
	s, admin, pool, _ := loadPeersPG(t, keys)
	if _, err := admin.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		t.Fatal(err)
	}
	const (
		pgGet     = `SELECT value, version FROM kv WHERE ns = $1 AND key = $2`
		pgHas     = `SELECT EXISTS (SELECT 1 FROM kv WHERE ns = $1 AND key = $2)`
		pgGetMany = `SELECT key, value, version FROM kv WHERE ns = $1 AND key = ANY($2)`
	)
	in := storage.InNamespace(ns)
	q := s.eng.reader()
	hit := func() string { return peersKey(rand.IntN(keys)) }
	miss := func() string { return fmt.Sprintf("m%07d", rand.IntN(keys)) }
	found := func(want bool) func(bool, error) error {
		return func(ok bool, err error) error {
			if err == nil && ok != want {
				err = fmt.Errorf("found %v, want %v", ok, want)
			}
			return err
		}
	}
	rawGet := func(key string) (bool, error) {
		var v []byte
		var ver int64
		err := pool.QueryRow(ctx, pgGet, ns, key).Scan(&v, &ver)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	}
	engineGet := func(key string) (bool, error) {
		_, err := s.Get(ctx, key, in)
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	stmtGet := func(key string) (bool, error) {
		_, err := q.getEntry(ctx, ns, key, s.now())
		if errors.Is(err, errNoRow) {
			return false, nil
		}
		return err == nil, err
	}
	rawHas := func(key string) (ok bool, err error) {
		err = pool.QueryRow(ctx, pgHas, ns, key).Scan(&ok)
		return ok, err
	}
	batch := func() []string { // 100 distinct present keys
		ks, j := make([]string, 100), rand.IntN(keys)
		for i := range ks {
			ks[i] = peersKey((j + i*(keys/100)) % keys)
		}
		return ks
	}
	nrows := func(n int, err error) error {
		if err == nil && n != 100 {
			err = fmt.Errorf("%d rows, want 100", n)
		}
		return err
	}
	nsi, err := s.readNamespace(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	// Shapes of the engine's statement, run through the raw program's
	// pool and scanned into as few values as it returns: where the
	// server's time goes.
	const (
		where   = ` FROM entries e WHERE e.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = $1) AND e.key = $2 AND (e.expires_at IS NULL OR e.expires_at > $3::timestamptz)`
		whereID = ` FROM entries e WHERE e.namespace_id = $1 AND e.key = $2 AND (e.expires_at IS NULL OR e.expires_at > $3::timestamptz)`
		all     = `SELECT e.key, e.value, e.metadata, e.version, e.created_at, e.updated_at, e.expires_at, e.revision, e.create_revision`
		two     = `SELECT e.value, e.version`
		// GetEntry by id, as HasEntryByID: a row of NULLs for a miss,
		// none for a stale id.
		getByIDUnion = `(` + all + whereID + `) UNION ALL (SELECT NULL::text, NULL::jsonb, NULL::jsonb, NULL::bigint,
NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::bigint, NULL::bigint FROM namespaces n WHERE n.id = $1) LIMIT 1`
		nullRow = ` UNION ALL (SELECT NULL::text, NULL::jsonb, NULL::jsonb, NULL::bigint,
NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::bigint, NULL::bigint FROM namespaces n WHERE n.id = $1) LIMIT 1`
		// The same with HasEntryByID's check that the namespace still has
		// the id (an unlinked namespace's entries keep it until purged,
		// migration 00034): s-live; or with the check that the id is not
		// unlinked (unlinked is empty but during a purge): s-unl.
		getByIDLive = `(` + all + whereID + ` AND EXISTS (SELECT 1 FROM namespaces n WHERE n.id = $1))` + nullRow
		getByIDUnl  = `(` + all + whereID + ` AND NOT EXISTS (SELECT 1 FROM unlinked u WHERE u.id = $1))` + nullRow
		hasWhereID  = ` FROM entries e WHERE e.namespace_id = $1::bigint AND e.key = $2::text AND (e.expires_at IS NULL OR e.expires_at > $3::timestamptz)`
		hasByIDLive = `(SELECT true AS found` + hasWhereID + ` AND EXISTS (SELECT 1 FROM namespaces n WHERE n.id = $1::bigint))
UNION ALL (SELECT false FROM namespaces n WHERE n.id = $1::bigint) LIMIT 1`
		hasByIDUnl = `(SELECT true AS found` + hasWhereID + ` AND NOT EXISTS (SELECT 1 FROM unlinked u WHERE u.id = $1::bigint))
UNION ALL (SELECT false FROM namespaces n WHERE n.id = $1::bigint) LIMIT 1`
		hasByName = `SELECT EXISTS (SELECT 1 FROM entries e WHERE e.namespace_id = (SELECT n.id FROM namespaces n WHERE n.name = $1)
AND e.key = $2 AND (e.expires_at IS NULL OR e.expires_at > $3::timestamptz))`
	)
	shape := func(sql string, nsArg any) func(key string) (bool, error) {
		return func(key string) (bool, error) {
			rows, err := pool.Query(ctx, sql, nsArg, key, s.now())
			if err != nil {
				return false, err
			}
			n := 0
			for rows.Next() {
				n++
			}
			return n > 0, rows.Err()
		}
	}
	// GetEntries' shape by name or by id ("s-name", "s-id", its key,
	// value and version alone).
	const (
		manyKV = `SELECT e.key, e.value, e.version FROM namespaces n CROSS JOIN unnest($1::text[]) AS k(key)
CROSS JOIN LATERAL (SELECT e.key, e.value, e.version FROM entries e WHERE e.namespace_id = n.id AND e.key = k.key
AND (e.expires_at IS NULL OR e.expires_at > $2::timestamptz) OFFSET 0) e `
		manyKVID = manyKV + `WHERE n.id = $3`
	)
	variants := []costOp{
		{"get/s-all", func() error { return found(true)(shape(all+where, ns)(hit())) }},
		{"get/s-two", func() error { return found(true)(shape(two+where, ns)(hit())) }},
		{"get/s-all-id", func() error { return found(true)(shape(all+whereID, nsi.id)(hit())) }},
		{"get/s-two-id", func() error { return found(true)(shape(two+whereID, nsi.id)(hit())) }},
		{"get/s-union", func() error { return found(true)(shape(getByIDUnion, nsi.id)(hit())) }},
		{"miss/s-all", func() error { return found(false)(shape(all+where, ns)(miss())) }},
		{"miss/s-all-id", func() error { return found(false)(shape(all+whereID, nsi.id)(miss())) }},
		{"miss/s-union", func() error { return found(true)(shape(getByIDUnion, nsi.id)(miss())) }}, // its marker row
		{"get/s-live", func() error { return found(true)(shape(getByIDLive, nsi.id)(hit())) }},
		{"get/s-unl", func() error { return found(true)(shape(getByIDUnl, nsi.id)(hit())) }},
		{"miss/s-live", func() error { return found(true)(shape(getByIDLive, nsi.id)(miss())) }}, // its marker row
		{"miss/s-unl", func() error { return found(true)(shape(getByIDUnl, nsi.id)(miss())) }},
		{"has/s-name", func() error { return found(true)(shape(hasByName, ns)(hit())) }},
		{"has/s-live", func() error { return found(true)(shape(hasByIDLive, nsi.id)(hit())) }},
		{"has/s-unl", func() error { return found(true)(shape(hasByIDUnl, nsi.id)(hit())) }},
		{"hasmiss/s-name", func() error { return found(true)(shape(hasByName, ns)(miss())) }},
		{"hasmiss/s-live", func() error { return found(true)(shape(hasByIDLive, nsi.id)(miss())) }},
		{"hasmiss/s-unl", func() error { return found(true)(shape(hasByIDUnl, nsi.id)(miss())) }},
		{"miss/s-two", func() error { return found(false)(shape(two+where, ns)(miss())) }},
		{"miss/s-two-id", func() error { return found(false)(shape(two+whereID, nsi.id)(miss())) }},
		{"get/engine", func() error { return found(true)(engineGet(hit())) }},
		{"get/old", func() error {
			entryScanViaPgx.Store(true)
			defer entryScanViaPgx.Store(false)
			return found(true)(engineGet(hit()))
		}},
		{"get/stmt", func() error { return found(true)(stmtGet(hit())) }},
		{"get/raw", func() error { return found(true)(rawGet(hit())) }},
		{"miss/engine", func() error { return found(false)(engineGet(miss())) }},
		{"miss/stmt", func() error { return found(false)(stmtGet(miss())) }},
		{"miss/raw", func() error { return found(false)(rawGet(miss())) }},
		{"has/engine", func() error { return found(true)(s.Has(ctx, hit(), in)) }},
		{"has/stmt", func() error { return found(true)(q.hasEntry(ctx, ns, hit(), s.now())) }},
		{"has/raw", func() error { return found(true)(rawHas(hit())) }},
		{"getMany/engine", func() error {
			r, err := s.GetMany(ctx, batch(), in)
			return nrows(len(r.Entries), err)
		}},
		{"getMany/old", func() error {
			entryScanViaPgx.Store(true)
			defer entryScanViaPgx.Store(false)
			r, err := s.GetMany(ctx, batch(), in)
			return nrows(len(r.Entries), err)
		}},
		{"hasmiss/engine", func() error { return found(false)(s.Has(ctx, miss(), in)) }},
		{"hasmiss/raw", func() error { return found(false)(rawHas(miss())) }},
		{"getMany/s-name", func() error {
			return rawRows(100)(pool.Query(ctx, manyKV+`WHERE n.name = $3`, pgTextArray(batch()), s.now(), ns))
		}},
		{"getMany/s-id", func() error { return rawRows(100)(pool.Query(ctx, manyKVID, pgTextArray(batch()), s.now(), nsi.id)) }},
		{"getMany/raw", func() error { return rawRows(100)(pool.Query(ctx, pgGetMany, ns, batch())) }},
	}
	if only := os.Getenv("STORAGE_PGGETCOST_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		variants = slices.DeleteFunc(variants, func(v costOp) bool { return !re.MatchString(v.name) })
	}
	costRounds(t, admin, rounds, per, variants, [2]string{"/engine", "/raw"}, [2]string{"/stmt", "/raw"}, [2]string{"/engine", "/stmt"}, [2]string{"/engine", "/old"}, [2]string{"/old", "/raw"},
		[2]string{"/s-id", "/s-name"},
		[2]string{"/s-union", "/s-all"}, [2]string{"/s-union", "/s-all-id"},
		[2]string{"/s-live", "/s-all"}, [2]string{"/s-unl", "/s-all"}, [2]string{"/s-unl", "/s-live"}, [2]string{"/s-all-id", "/s-unl"},
		[2]string{"/s-live", "/s-name"}, [2]string{"/s-unl", "/s-name"})
}
