package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// TestHostileIndexes (issue 13 tenant isolation, issue 15 item 3): over
// HTTP with two principals, alice's index in her own namespace changes
// nothing for bob's writes of long strings in another namespace; index
// creation needs write on the namespace; a namespace declares at most
// storage.MaxIndexes fields.
func TestHostileIndexes(t *testing.T) {
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			own := "principal://alice-pk/namespace/ix"
			s.must(t, "createNamespace", hAlice, `{"name":"`+own+`"}`)
			s.must(t, "createIndex", hAlice, `{"name":"`+own+`","field":"name"}`)
			long := strings.Repeat("x", 10000)
			s.must(t, "set", hAlice, `{"key":"a","value":{"name":"`+long+`"},"options":{"namespace":"`+own+`"}}`)
			s.must(t, "set", hBob, `{"key":"b","value":{"name":"`+long+`"},"options":{"namespace":"shared"}}`)
			s.must(t, "query", hAlice, `{"filter":{"field":"name","operator":"eq","value":"`+long+`"},"options":{"namespace":"`+own+`"}}`)
			for ns, key := range map[string]string{own: "a", "shared": "b"} {
				res, err := s.inner.Query(t.Context(), storage.Eq("name", long), storage.InNamespace(ns))
				if err != nil || len(res.Entries) != 1 || res.Entries[0].Key != key {
					t.Errorf("%s: the long value's query = %v, %v", ns, res.Entries, err)
				}
			}
			// Write permission is needed; nobody has none, bob only on shared.
			s.refused(t, "createIndex", hNobody, `{"name":"shared","field":"name"}`, 403, routes.CodePermissionDenied)
			s.refused(t, "createIndex", hBob, `{"name":"`+own+`","field":"other"}`, 403, routes.CodePermissionDenied)
			s.refused(t, "createIndex", hAlice, `{"name":"`+own+`","field":"name"}`, 409, routes.CodeIndexExists)
			s.refused(t, "dropIndex", hAlice, `{"name":"`+own+`","field":"nope"}`, 404, routes.CodeIndexNotFound)
			s.refused(t, "createIndex", hAlice, `{"name":"`+own+`"}`, 400, routes.CodeInvalidRequest)
			// At most MaxIndexes per namespace.
			for i := 1; i < storage.MaxIndexes; i++ {
				s.must(t, "createIndex", hAlice, fmt.Sprintf(`{"name":"%s","field":"f%d"}`, own, i))
			}
			s.refused(t, "createIndex", hAlice, `{"name":"`+own+`","field":"one.more"}`, 400, routes.CodeInvalidOption)
			many := make([]string, storage.MaxIndexes+1)
			for i := range many {
				many[i] = fmt.Sprintf(`"g%d"`, i)
			}
			s.refused(t, "createNamespace", hAlice, `{"name":"principal://alice-pk/namespace/many","options":{"indexes":[`+strings.Join(many, ",")+`]}}`,
				400, routes.CodeInvalidOption)
			s.must(t, "dropIndex", hAlice, `{"name":"`+own+`","field":"name"}`)
		})
	}
}
