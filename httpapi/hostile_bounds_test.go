package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/client"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
)

// TestHostileNamespaceMetadata (one principal's namespaces cannot make
// another's listNamespaces slow and large): a namespace's metadata is at
// most storage.MaxNamespaceMetadataSize; beyond, createNamespace is 413
// value_too_large and nothing is created. Every listNamespaces reads
// every namespace's metadata, whatever the caller may see: before the
// bound (16 MiB, as an entry's), the admin's eight namespaces with 8 MiB
// of metadata each made bob's listNamespaces, which shows none of them,
// take 2.1 s and allocate 448 MiB (SQLite); the four this test tries are
// refused, and bob's listing stays as fast and small as alone.
func TestHostileNamespaceMetadata(t *testing.T) {
	md := func(n int) string { return fmt.Sprintf(`{"s":%q}`, strings.Repeat("x", n-len(`{"s":""}`))) }
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			alone := s.median(t, 3, "listNamespaces", hBob, `{}`)
			s.must(t, "createNamespace", hAdmin, `{"name":"atmax","options":{"metadata":`+md(storage.MaxNamespaceMetadataSize)+`}}`)
			for i, n := range []int{storage.MaxNamespaceMetadataSize + 1, 8 << 20, 8 << 20, 8 << 20, 8 << 20} {
				s.refused(t, "createNamespace", hAdmin, fmt.Sprintf(`{"name":"big%d","options":{"metadata":%s}}`, i, md(n)),
					413, routes.CodeValueTooLarge)
			}
			// Refused whole: the namespace is not there.
			s.must(t, "createNamespace", hAdmin, `{"name":"big0"}`)
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			_, _, d := s.timed(t, "listNamespaces", hBob, `{}`)
			runtime.ReadMemStats(&ms)
			alloc := ms.TotalAlloc - before
			t.Logf("bob's listNamespaces: alone %v, beside the admin's namespaces %v, %d KiB allocated", alone, d, alloc>>10)
			if limit := 20*alone + 100*time.Millisecond; d > limit {
				t.Errorf("bob's listNamespaces took %v beside the admin's namespaces, more than %v", d, limit)
			}
			if alloc > 16<<20 {
				t.Errorf("bob's listNamespaces allocated %d MiB beside the admin's namespaces, more than 16", alloc>>20)
			}
		})
	}
}

// TestHostileContains (one query cannot hold a reader for hours): the
// string a contains leaf looks for is at most storage.MaxContainsLen
// bytes; beyond, query and count are 400 invalid_filter. SQLite's
// substring search compares the string at every position of each value,
// within one step that cancellation does not interrupt: before the bound
// a 512 KiB string in one 1 MiB value took 14 s, and with values of
// 16 MiB a few such queries held every reader (and place in the store)
// for hours. At the bound, a 15 MiB value costs 0.4 s.
func TestHostileContains(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.must(t, "set", hAlice, `{"key":"a","value":{"s":"`+strings.Repeat("a", 1<<20)+`"},"options":{"namespace":"shared"}}`)
			contains := func(op string, n int) string {
				leaf := fmt.Sprintf(`{"field":"s","operator":"contains","value":%q}`, strings.Repeat("a", n-1)+"b")
				if op == "count" {
					return `{"options":{"namespace":"shared","where":` + leaf + `}}`
				}
				return `{"filter":` + leaf + `,"options":{"namespace":"shared"}}`
			}
			for _, op := range []string{"query", "count"} {
				if _, _, d := s.timed(t, op, hAlice, contains(op, storage.MaxContainsLen)); d > 5*time.Second {
					t.Errorf("%s contains %d bytes in a 1 MiB value took %v", op, storage.MaxContainsLen, d)
				}
				for _, n := range []int{storage.MaxContainsLen + 1, 64 << 10} {
					env := s.refused(t, op, hAlice, contains(op, n), 400, routes.CodeInvalidFilter)
					if env.Error != nil && !strings.Contains(env.Error.Message, "more than 1024") {
						t.Errorf("%s contains %d bytes: %q does not name the bound", op, n, env.Error.Message)
					}
				}
			}
		})
	}
}

// TestHostileGetManyKeys (one getMany cannot take gigabytes): a getMany
// holds at most routes.MaxBatchItems keys, as setMany and deleteMany do;
// beyond, it is 413 too_large. Each key the answer holds no value for has
// an error in it instead, which routes.AnswerBytes does not bound: before,
// 1M missing keys (an 8 MiB body) made a 161 MB answer, allocated 2.4 GB
// and held a place in the store 16 s. client.Store's GetMany sends more
// keys in several messages, and answers as before.
func TestHostileGetManyKeys(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			keys := make([]string, 2*routes.MaxBatchItems+5)
			for i := range keys {
				keys[i] = fmt.Sprintf("k%06d", i)
			}
			for _, k := range []string{keys[0], keys[routes.MaxBatchItems], keys[len(keys)-1]} {
				s.must(t, "set", hAlice, `{"key":"`+k+`","value":1,"options":{"namespace":"shared"}}`)
			}
			body := func(keys []string) string {
				b, err := json.Marshal(map[string]any{"keys": keys, "options": map[string]string{"namespace": "shared"}})
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			s.must(t, "getMany", hAlice, body(keys[:routes.MaxBatchItems]))
			s.refused(t, "getMany", hAlice, body(keys[:routes.MaxBatchItems+1]), 413, routes.CodeTooLarge)
			tr, err := httpapi.NewTransport(s.URL, hAlice)
			if err != nil {
				t.Fatal(err)
			}
			st, err := client.New(t.Context(), tr)
			if err != nil {
				t.Fatal(err)
			}
			res, err := st.GetMany(t.Context(), keys, storage.InNamespace("shared"))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Entries) != 3 || len(res.Errors) != len(keys)-3 {
				t.Errorf("client GetMany of %d keys: %d entries, %d errors; want 3 and %d", len(keys), len(res.Entries), len(res.Errors), len(keys)-3)
			}
			for k, err := range res.Errors {
				if !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("client GetMany: %s: %v, want not found", k, err)
					break
				}
			}
		})
	}
}

// TestHostileNamespaceQuota (one principal cannot create namespaces
// without bound): a principal owns at most its quota of namespaces
// (security.MaxNamespacesPerPrincipal; 20 here, 10,000 by default), and a
// createNamespace beyond is 507 capacity_exceeded and creates nothing,
// however many race: one owner's creates take turns. Before the bound,
// the 40 concurrent creates of alice all succeeded. An operator
// (principal://* rw) is not bound, and a namespace deleted makes room.
func TestHostileNamespaceQuota(t *testing.T) {
	const quota, tries = 20, 40
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServerSecurity(t, c.DSN(t), hostileAuth, httpapi.Config{},
				[]security.Option{security.MaxNamespacesPerPrincipal(quota)})
			create := func(token, name string) (int, string) {
				return s.statusCode(token, "createNamespace", `{"name":"`+name+`"}`)
			}
			type answer struct {
				status int
				code   string
			}
			answers := make(chan answer, tries)
			var wg sync.WaitGroup
			for i := range tries {
				wg.Go(func() {
					name := "principal://alice-pk/namespace/n" + strconv.Itoa(i)
					if i == 0 {
						name = "principal://alice-pk"
					}
					st, code := create(hAlice, name)
					answers <- answer{st, code}
				})
			}
			wg.Wait()
			close(answers)
			created, refused := 0, 0
			for a := range answers {
				switch {
				case a.status == 200:
					created++
				case a.status == 507 && a.code == routes.CodeCapacityExceeded:
					refused++
				default:
					t.Errorf("createNamespace: %d %s; want 200 or 507 %s", a.status, a.code, routes.CodeCapacityExceeded)
				}
			}
			ownedNames := func(owner string) []string {
				list, err := s.inner.ListNamespaces(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, ns := range list {
					if ns.Owner == owner {
						names = append(names, ns.Name)
					}
				}
				return names
			}
			owned := func(owner string) int { return len(ownedNames(owner)) }
			t.Logf("%d concurrent creates of alice's namespaces under a quota of %d: %d created, %d refused; alice owns %d",
				tries, quota, created, refused, owned("alice-pk"))
			if created != quota || refused != tries-quota || owned("alice-pk") != quota {
				t.Errorf("%d concurrent creates: %d created, %d refused, alice owns %d; want %d, %d, %d",
					tries, created, refused, owned("alice-pk"), quota, tries-quota, quota)
			}
			// Bob's quota is his own.
			s.must(t, "createNamespace", hBob, `{"name":"principal://bob-pk/namespace/b"}`)
			// An operator is not bound, under alice's prefix either.
			s.must(t, "createNamespace", hAdmin, `{"name":"principal://alice-pk/namespace/by-admin"}`)
			s.refused(t, "createNamespace", hAlice, `{"name":"principal://alice-pk/namespace/more"}`, 507, routes.CodeCapacityExceeded)
			// Deleting makes room again, one for one (which of the racing
			// creates won is the race's).
			s.must(t, "deleteNamespace", hAlice, `{"name":"principal://alice-pk/namespace/by-admin"}`)
			s.must(t, "deleteNamespace", hAlice, `{"name":"`+ownedNames("alice-pk")[0]+`"}`)
			s.must(t, "createNamespace", hAlice, `{"name":"principal://alice-pk/namespace/more"}`)
			s.refused(t, "createNamespace", hAlice, `{"name":"principal://alice-pk/namespace/more2"}`, 507, routes.CodeCapacityExceeded)
			if n := owned("alice-pk"); n != quota {
				t.Errorf("alice owns %d namespaces, want %d", n, quota)
			}
		})
	}
}

// TestHostileBatchDecoding (a batch far beyond routes.MaxBatchItems is
// refused before it is decoded): a body of the default size limit
// (32 MiB) holding 2M tiny keys (getMany, deleteMany) or 1.1M tiny
// entries (setMany) is 413 too_large as before, but the server counts the
// items in the body, and stops at the bound, before it decodes anything.
// Before, it decoded every item first, and then checked every entry's
// member names: the keys allocated 292 MiB for one request, the entries
// about 2.9 GB and took 20 s (server and test together, around one
// call), so a few such requests at once could take the server's memory.
func TestHostileBatchDecoding(t *testing.T) {
	body := func(member string, n int, item string) []byte {
		var b bytes.Buffer
		b.WriteString(`{"` + member + `":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, item, i)
		}
		b.WriteString(`],"options":{"namespace":"shared"}}`)
		return b.Bytes()
	}
	keys := body("keys", 2<<20, `"%07x"`)
	entries := body("entries", 1100000, `{"key":"%07x","value":1}`)
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.must(t, "set", hAlice, `{"key":"a","value":1,"options":{"namespace":"shared"}}`)
			for _, tc := range []struct {
				op   string
				body []byte
			}{{"getMany", keys}, {"deleteMany", keys}, {"setMany", entries}} {
				st, env, d, alloc := s.measuredPost(t, tc.op, hAlice, tc.body)
				t.Logf("%s, a %d MiB body: %d %s in %v, %d MiB allocated", tc.op, len(tc.body)>>20, st, env.code(), d, alloc>>20)
				if st != 413 || env.code() != routes.CodeTooLarge {
					t.Errorf("%s: %d %s, want 413 %s", tc.op, st, env.code(), routes.CodeTooLarge)
				}
				// The body itself is read whole (bounded by MaxBodyBytes
				// and MaxBytesInFlight), once; decoding adds nothing.
				if limit := uint64(len(tc.body)) + 16<<20; alloc > limit {
					t.Errorf("%s: %d MiB allocated, more than %d MiB (the body and 16)", tc.op, alloc>>20, limit>>20)
				}
			}
			// Nothing was written or deleted.
			s.must(t, "get", hAlice, `{"key":"a","options":{"namespace":"shared"}}`)
		})
	}
}
