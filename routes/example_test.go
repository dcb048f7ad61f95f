package routes_test

import (
	"context"
	"fmt"

	"github.com/mycelia-kernel/storage/routes"
	"github.com/mycelia-kernel/storage/sqlstore"
)

func Example() {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite::memory:")
	if err != nil {
		panic(err)
	}
	defer st.Close()
	mux := routes.NewMux()
	routes.Register(mux, st)

	resp, _ := mux.Call(ctx, "storage://set", []byte(`{"key":"user:1","value":{"name":"Ann","id":12345678901234567890},"options":{"namespace":"users"}}`))
	fmt.Println(string(resp))
	resp, _ = mux.Call(ctx, "storage://has", []byte(`{"key":"user:1","options":{"namespace":"users"}}`))
	fmt.Println(string(resp))
	resp, _ = mux.Call(ctx, "storage://list", []byte(`{"options":{"namespace":"users","pattern":"user:*"}}`))
	fmt.Println(string(resp))
	resp, _ = mux.Call(ctx, "storage://get", []byte(`{"key":"user:2","options":{"namespace":"users"}}`))
	code := routes.EnvelopeCode(resp)
	fmt.Println(code, routes.HTTPStatus(code))
	resp, _ = mux.Call(ctx, "storage://set", []byte(`{"key":"user:3"}`))
	fmt.Println(string(resp))
	// Output:
	// {"success":true,"revision":3,"version":1,"createRevision":3}
	// {"success":true,"exists":true}
	// {"success":true,"keys":["user:1"]}
	// not_found 404
	// {"success":false,"error":{"code":"invalid_request","message":"storage: invalid request: member \"value\" is missing"}}
}
