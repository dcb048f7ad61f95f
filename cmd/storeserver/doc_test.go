package main

import (
	"io"
	"testing"

	"github.com/mycelia-kernel/storage/internal/cmdline"
)

// TestDocNamesEveryFlag: the package documentation documents every flag
// the server takes.
func TestDocNamesEveryFlag(t *testing.T) {
	if err := cmdline.CheckDocumented(newFlagSet(&options{}, io.Discard), "doc.go"); err != nil {
		t.Error(err)
	}
}
