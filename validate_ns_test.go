package storage

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/driver"
)

// TestPlainNamespace: plainNamespace accepts exactly what the regexp of
// ParseNamespace's doc does.
func TestPlainNamespace(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	names := []string{"", "a", "A", "0", ".", "_", "-", "a.", "a_b-c.d", ".a", "-a", "_a", "a/b", "a:b", "a*", "a b",
		"é", "aé", "a\x00", "a\n", strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129),
		strings.Repeat("b", 200), "principal://x", "Z9.-_"}
	for c := 0; c < 256; c++ {
		names = append(names, string(rune(c)), "a"+string([]byte{byte(c)}), string([]byte{byte(c)})+"a")
	}
	for _, n := range names {
		if got, want := plainNamespace(n), re.MatchString(n); got != want {
			t.Errorf("plainNamespace(%q) = %v, want %v", n, got, want)
		}
	}
}

func FuzzPlainNamespace(f *testing.F) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	f.Add("abc")
	f.Add("a.b-c_d")
	f.Fuzz(func(t *testing.T, n string) {
		if got, want := plainNamespace(n), re.MatchString(n); got != want {
			t.Errorf("plainNamespace(%q) = %v, want %v", n, got, want)
		}
	})
}

// TestInNamespaceResolvesWithoutAllocating: a call's InNamespace option
// resolves without a heap allocation (driver.NamespaceSelector), and an
// invalid name still fails the call that resolves it.
func TestInNamespaceResolvesWithoutAllocating(t *testing.T) {
	opts := []Option{InNamespace("a")}
	n := testing.AllocsPerRun(100, func() {
		if _, err := driver.ResolveOptions("get", driver.KindNamespace, opts); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("InNamespace resolves with %v allocations, want 0", n)
	}
	if _, err := driver.ResolveOptions("get", driver.KindNamespace, []Option{InNamespace("no/such")}); !errors.Is(err, ErrInvalidNamespace) {
		t.Errorf("InNamespace(%q): %v, want ErrInvalidNamespace", "no/such", err)
	}
}
