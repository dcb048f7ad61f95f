package sqlstore

import (
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestPurgeBacklogBounded: while the purger cannot keep up (here it does
// nothing), Clear and DeleteNamespace purge in their callers once more
// than purgeBacklog (16) namespaces wait, so what is unlinked stays
// bounded. Before, the unlinked namespaces and their rows grew for as
// long as the load did: on SQLite the purger gets one writer turn among
// many and a turn deletes at most purgeChunk rows, while a loop filling
// namespaces with batches of 1000 and deleting them unlinks more (the
// hour-long soak, bench/results/2026-12-05-soak3.md: 250 namespaces and
// 380,000 entries waiting after 30 minutes).
func TestPurgeBacklogBounded(t *testing.T) {
	for _, c := range unlinkConfigs {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, c.dsn(t), WithSweepInterval(-1))
			defer s.Close()
			s.stopPurger()
			ctx := t.Context()
			const cycles = 40
			for i := range cycles {
				ns := fmt.Sprintf("tmp-%d", i)
				fillIndexed(t, s, ns, 30)
				if i%2 == 0 {
					must(t, s.DeleteNamespace(ctx, ns, storage.Recursive()))
				} else {
					must(t, s.Clear(ctx, storage.InNamespace(ns)))
				}
			}
			var unlinked, entries int64
			if err := s.eng.reader().queryRows(ctx, `SELECT (SELECT count(*) FROM unlinked), (SELECT count(*) FROM entries)`, nil,
				func(r rowScanner) error { return r.Scan(&unlinked, &entries) }); err != nil {
				t.Fatal(err)
			}
			if unlinked > 16 || entries > 16*30 {
				t.Fatalf("after %d namespaces filled and deleted or cleared, with the purger behind: %d unlinked, %d entries left; want at most 16 and %d",
					cycles, unlinked, entries, 16*30)
			}
		})
	}
}
