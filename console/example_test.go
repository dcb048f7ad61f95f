package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mycelia-kernel/storage/console"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/security"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// The console beside the storage API, as cmd/storeserver serves them: the
// same tokens, the same authorizing store.
func Example() {
	ctx := context.Background()
	tokens, err := httpapi.ParseAuthFile([]byte(`{"principals": [{"token": "a-long-random-secret", "pkr": "admin-pk",
		"profiles": [{"name": "admin", "scopes": {"storage://namespace/*": "rw", "principal://*": "rw"}}]}]}`))
	if err != nil {
		panic(err)
	}
	inner, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer inner.Close()
	sec := security.NewStore(inner, tokens.Policy())
	con, err := console.New(console.Config{Store: sec, Auth: tokens, OpenTransactions: inner.OpenTransactions})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con)
	// mux.Handle("/", httpapi.NewHandler(...)) serves the API beside it.

	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/console/")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Request.URL.Path)
	fmt.Println(strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'"))
	// Output:
	// 200 /console/signin
	// true
}
