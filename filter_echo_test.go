package storage_test

import (
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

// TestFilterBadValueNotEchoed: a filter refused for a caller's huge string
// (a time root's value that is not a time, an unknown member's name, the
// field of a value that does not decode) says so in a bounded message,
// not with the whole string (before, the message held all of it).
func TestFilterBadValueNotEchoed(t *testing.T) {
	huge := strings.Repeat("y", 1<<20)
	_, err := storage.Eq("$createdAt", huge).Compile()
	if err == nil || len(err.Error()) > 1024 {
		t.Errorf("Eq($createdAt, 1 MiB): %d bytes of message (%v)", len(err.Error()), err != nil)
	}
	for _, in := range []string{
		`{"field":"a","operator":"eq","value":1,"` + huge + `":1}`,
		`{"field":"$updatedAt","operator":"eq","value":"` + huge + `"}`,
	} {
		f, err := storage.ParseFilter([]byte(in))
		if err == nil {
			_, err = f.Compile()
		}
		if err == nil || len(err.Error()) > 1024 {
			t.Errorf("ParseFilter(%.60s...): %d bytes of message", in, len(err.Error()))
		}
	}
}
