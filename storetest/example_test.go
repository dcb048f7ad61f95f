package storetest_test

import (
	"fmt"

	"github.com/mycelia-kernel/storage/storetest"
)

func ExampleJSONEqual() {
	// PostgreSQL's jsonb reorders members and spells numbers its own way.
	stored := []byte(`{"n": 1000000, "a": [1.50, -0]}`)
	fmt.Println(storetest.JSONEqual([]byte(`{"a":[1.5,0],"n":1e6}`), stored))
	fmt.Println(storetest.JSONEqual([]byte(`{"a":[1.5,0],"n":1e7}`), stored))
	// Output:
	// true
	// false
}
