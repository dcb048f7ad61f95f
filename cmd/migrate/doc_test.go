package main

import (
	"io"
	"testing"

	"github.com/mycelia-kernel/storage/internal/cmdline"
)

// TestDocNamesEveryFlag: the package documentation documents every flag
// the command takes.
func TestDocNamesEveryFlag(t *testing.T) {
	if err := cmdline.CheckDocumented(newFlagSet(&cli{}, io.Discard), "doc.go"); err != nil {
		t.Error(err)
	}
}
