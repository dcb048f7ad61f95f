package console

import (
	"strings"
	"testing"
)

// TestFileName: a download's file name is the key made safe, at most 100
// characters, never empty or only dots.
func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"users/42":                "users_42",
		"é ü":                     "___",
		"":                        "entry",
		"..":                      "entry",
		"a.b-c_d":                 "a.b-c_d",
		strings.Repeat("é", 300):  strings.Repeat("_", 100),
		strings.Repeat("k", 1024): strings.Repeat("k", 100),
	} {
		if got := fileName(in); got != want {
			t.Errorf("fileName(%q) = %q, want %q", in, got, want)
		}
	}
}
