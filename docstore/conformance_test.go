package storagedocstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
	"gocloud.dev/docstore"
	"gocloud.dev/docstore/driver"
	"gocloud.dev/docstore/drivertest"
)

// openStores returns the stores the tests run on: a private SQLite
// database, and PostgreSQL when STORAGE_TEST_POSTGRES_DSN is set.
func openStores(t *testing.T) map[string]func(t *testing.T) storage.Store {
	t.Helper()
	stores := map[string]func(t *testing.T) storage.Store{
		"sqlite": func(t *testing.T) storage.Store { return open(t, "sqlite::memory:") },
	}
	if dsn := os.Getenv("STORAGE_TEST_POSTGRES_DSN"); dsn != "" {
		stores["postgres"] = func(t *testing.T) storage.Store { return open(t, dsn) }
	}
	return stores
}

func open(t *testing.T, dsn string) storage.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// namespaces makes every collection's namespace unique, so runs against
// one PostgreSQL database never meet.
var namespaces atomic.Int64

func uniqueNamespace(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), namespaces.Add(1))
}

type harness struct{ s storage.Store }

func (h *harness) MakeCollection(_ context.Context, kind drivertest.CollectionKind) (driver.Collection, error) {
	ns := uniqueNamespace("docstore")
	switch kind {
	case drivertest.SingleKey, drivertest.NoRev:
		return newCollection(h.s, ns, drivertest.KeyField, nil, nil)
	case drivertest.TwoKey:
		return newCollection(h.s, ns, "", drivertest.HighScoreKey, nil)
	case drivertest.AltRev:
		return newCollection(h.s, ns, drivertest.KeyField, nil, &Options{RevisionField: drivertest.AlternateRevisionField})
	}
	return nil, fmt.Errorf("unknown collection kind %v", kind)
}

func (*harness) BeforeDoTypes() []any    { return nil }
func (*harness) BeforeQueryTypes() []any { return []any{&storage.Filter{}} }

func (*harness) RevisionsEqual(rev1, rev2 any) bool { return rev1 == rev2 }

func (*harness) AtomicWritesKind() drivertest.AtomicWritesSupportKind {
	return drivertest.MultiplePartitions
}

func (*harness) Close() {}

func TestConformance(t *testing.T) {
	for name, open := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			newHarness := func(context.Context, *testing.T) (drivertest.Harness, error) { return &harness{s: s}, nil }
			drivertest.RunConformanceTests(t, newHarness, codecTester{}, []drivertest.AsTest{asTest{}})
		})
	}
}

// codecTester's native codec is encoding/json, which is what a client of
// the store that is not docstore writes and reads, following the storage
// format of the package documentation: []byte as {"$bytes":"<base64>"}
// (nativeJSON rewrites them both ways).
type codecTester struct{}

func (codecTester) UnsupportedTypes() []drivertest.UnsupportedType { return nil }

func (codecTester) DocstoreEncode(x any) (any, error) {
	doc, err := driver.NewDocument(x)
	if err != nil {
		return nil, err
	}
	m, err := encodeDoc(doc, docstore.DefaultRevisionField)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func (codecTester) DocstoreDecode(value, dest any) error {
	doc, err := driver.NewDocument(dest)
	if err != nil {
		return err
	}
	tree, err := decodeJSON(value.([]byte))
	if err != nil {
		return err
	}
	return doc.Decode(decoder{tree})
}

func (codecTester) NativeEncode(x any) (any, error) {
	return json.Marshal(nativeJSON(reflect.ValueOf(x)))
}

func (codecTester) NativeDecode(value, dest any) error {
	var tree any
	if err := json.Unmarshal(value.([]byte), &tree); err != nil {
		return err
	}
	b, err := json.Marshal(untagBytes(tree))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dest)
}

// nativeJSON is what encoding/json marshals for v, with each []byte as the
// tagged object instead of a base64 string.
func nativeJSON(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if _, ok := v.Interface().(json.Marshaler); ok {
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return nativeJSON(v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return map[string]any{bytesTag: base64.StdEncoding.EncodeToString(v.Bytes())}
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = nativeJSON(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			out[fmt.Sprint(it.Key().Interface())] = nativeJSON(it.Value())
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				out[f.Name] = nativeJSON(v.Field(i))
			}
		}
		return out
	}
	return v.Interface()
}

func untagBytes(x any) any {
	switch v := x.(type) {
	case []any:
		for i := range v {
			v[i] = untagBytes(v[i])
		}
	case map[string]any:
		if s, ok := v[bytesTag].(string); ok && len(v) == 1 {
			return s
		}
		for k := range v {
			v[k] = untagBytes(v[k])
		}
	}
	return x
}

// asTest checks Collection.As (the storage.Store) and ErrorAs (the
// engine's *storage.OpError).
type asTest struct{}

func (asTest) Name() string { return "storage" }

func (asTest) CollectionCheck(coll *docstore.Collection) error {
	var s storage.Store
	if !coll.As(&s) || s == nil {
		return errors.New("Collection.As(*storage.Store) failed")
	}
	return nil
}

func (asTest) QueryCheck(it *docstore.DocumentIterator) error {
	var s storage.Store
	if it.As(&s) {
		return errors.New("DocumentIterator.As exposes nothing, but returned true")
	}
	return nil
}

func (asTest) ErrorCheck(c *docstore.Collection, err error) error {
	var oe *storage.OpError
	if !c.ErrorAs(err, &oe) {
		return fmt.Errorf("ErrorAs(%w, *storage.OpError) failed", err)
	}
	if !errors.Is(oe, storage.ErrAlreadyExists) {
		return fmt.Errorf("got %w, want ErrAlreadyExists", oe)
	}
	return nil
}
