package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/security"
)

// statusCode calls op as token with body and returns the status and the
// error's code, or the failure's text; unlike call it may run on any
// goroutine.
func (s *testServer) statusCode(token, op, body string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, s.URL+"/v1/storage/"+op, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return resp.StatusCode, err.Error()
	}
	return resp.StatusCode, env.code()
}

// TestHostileEntryQuota (one principal cannot fill the store for every
// other): under security.MaxEntriesPerPrincipal (storeserver
// --max-entries-per-principal) alice's namespaces hold at most the quota,
// however many of her batches race, and one beyond is 507
// capacity_exceeded, nothing of it written; bob's writes go on, and so do
// alice's overwrites at her quota. Without a quota her writes filled a
// store of a capacity and bob's first set was refused (507, the store's
// capacity: security's TestEntryQuotaSharesCapacity). Her writes into
// namespaces she does not yet own create them under her namespace quota
// (TestNamespaceQuotaByWrites).
func TestHostileEntryQuota(t *testing.T) {
	const quota, batch, tries = 40, 10, 12
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newServerSecurity(t, c.DSN(t), hostileAuth, httpapi.Config{},
				[]security.Option{security.MaxEntriesPerPrincipal(quota)})
			const ns = "principal://alice-pk/namespace/fill"
			s.must(t, "createNamespace", hAlice, `{"name":"`+ns+`"}`)
			setMany := func(i int) (int, string) {
				var items []string
				for k := range batch {
					items = append(items, fmt.Sprintf(`{"key":"k%02d-%d","value":%d}`, i, k, k))
				}
				body := `{"entries":[` + strings.Join(items, ",") + `],"options":{"namespace":"` + ns + `"}}`
				return s.statusCode(hAlice, "setMany", body)
			}
			type answer struct {
				status int
				code   string
			}
			answers := make(chan answer, tries)
			var wg sync.WaitGroup
			for i := range tries {
				wg.Go(func() {
					st, code := setMany(i)
					answers <- answer{st, code}
				})
			}
			wg.Wait()
			close(answers)
			written := 0
			for a := range answers {
				switch {
				case a.status == 200:
					written += batch
				case a.status == 507 && a.code == routes.CodeCapacityExceeded:
				default:
					t.Errorf("setMany: %d %s; want 200 or 507 %s", a.status, a.code, routes.CodeCapacityExceeded)
				}
			}
			count := func() int64 {
				n, err := s.inner.Count(t.Context(), storage.InNamespace(ns))
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			n := count()
			t.Logf("%d racing batches of %d under a quota of %d: %d entries written", tries, batch, quota, n)
			if n != int64(written) || n > quota {
				t.Fatalf("alice's namespace holds %d entries, the answers said %d written; want at most %d", n, written, quota)
			}
			// The race over, the quota is exact: what is left fits, one
			// more does not.
			for i := n; i < quota; i++ {
				s.must(t, "set", hAlice, fmt.Sprintf(`{"key":"r%d","value":1,"options":{"namespace":"%s"}}`, i, ns))
			}
			s.refused(t, "set", hAlice, `{"key":"over","value":1,"options":{"namespace":"`+ns+`"}}`, 507, routes.CodeCapacityExceeded)
			page, err := s.inner.List(t.Context(), storage.InNamespace(ns), storage.Limit(1))
			if err != nil || len(page.Keys) != 1 {
				t.Fatalf("List: %v %v", page.Keys, err)
			}
			s.must(t, "set", hAlice, fmt.Sprintf(`{"key":%q,"value":2,"options":{"namespace":"%s"}}`, page.Keys[0], ns))
			s.must(t, "set", hBob, `{"key":"b","value":1,"options":{"namespace":"principal://bob-pk"}}`)
			if n := count(); n != quota {
				t.Errorf("alice's namespace holds %d entries, want %d", n, quota)
			}
		})
	}
}
