package main

import (
	"io"
	"os"
	"testing"

	"github.com/mycelia-kernel/storage/internal/cmdline"
)

// TestDocNamesEveryFlag: the package documentation, which is what go doc
// and pkg.go.dev show a user, documents every flag the server takes.
func TestDocNamesEveryFlag(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	if missing := cmdline.Undocumented(newFlagSet(&options{}, io.Discard), string(doc)); len(missing) > 0 {
		t.Errorf("doc.go does not document these flags: %v", missing)
	}
}
