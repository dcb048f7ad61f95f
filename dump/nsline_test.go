package dump_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/dump"
	"github.com/mycelia-kernel/storage/internal/testutil/teststore"
)

// withoutNamespaceLines drops the namespace lines of an export and rewrites
// its trailer to match, as a hand-made file would be.
func withoutNamespaceLines(t *testing.T, file []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	h := sha256.New()
	entries := 0
	for _, line := range bytes.Split(bytes.TrimRight(file, "\n"), []byte("\n")) {
		var l struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		switch l.Type {
		case "namespace":
			continue
		case "entry":
			entries++
		case "trailer":
			fmt.Fprintf(&out, `{"type":"trailer","namespaces":0,"entries":%d,"sha256":%q}`+"\n", entries, hex.EncodeToString(h.Sum(nil)))
			return out.Bytes()
		}
		out.Write(line)
		out.WriteByte('\n')
		h.Write(line)
		h.Write([]byte{'\n'})
	}
	t.Fatal("the export has no trailer")
	return nil
}

// TestImportCountsImplicitNamespaces: an entry whose namespace has no
// namespace line creates it, and the import counts it as created.
func TestImportCountsImplicitNamespaces(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			src := teststore.Open(t, b.DSN(t))
			for i, ns := range []string{"one", "two", "two", "default"} {
				if err := src.Set(ctx, fmt.Sprintf("k%d", i), i, storage.InNamespace(ns)); err != nil {
					t.Fatal(err)
				}
			}
			file := withoutNamespaceLines(t, exportBytes(t, src, dump.ExportOptions{}))
			dst := teststore.Open(t, b.DSN(t))
			st, err := dump.Import(ctx, dst, bytes.NewReader(file), dump.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// "default" exists in every store: only one and two are new.
			if st.NamespacesCreated != 2 || st.Inserted != 4 {
				t.Errorf("import: %d namespaces created, %d inserted; want 2 and 4 (%+v)", st.NamespacesCreated, st.Inserted, st)
			}
			checkCounts(t, dst)
			st, err = dump.Import(ctx, dst, bytes.NewReader(file), dump.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if st.NamespacesCreated != 0 || st.Unchanged != 4 {
				t.Errorf("reimport: %d namespaces created, %d unchanged; want 0 and 4", st.NamespacesCreated, st.Unchanged)
			}
		})
	}
}
