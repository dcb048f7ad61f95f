package dump

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// loneSurrogate refuses a line whose strings hold an unpaired UTF-16
// surrogate escape ("sur\ud800"): encoding/json would decode it as U+FFFD,
// so two different keys in the file would restore as one. The error wraps
// ErrMalformed and, for a key or a namespace name, storage.ErrInvalidKey or
// storage.ErrInvalidNamespace. Values and metadata are checked as raw JSON
// by the store (storage.ErrInvalidValue), so they are left alone here.
func loneSurrogate(line []byte) error {
	if !bytes.Contains(line, []byte(`\u`)) {
		return nil
	}
	for path := range jsonx.LoneSurrogates(line) {
		if slices.Contains(path, "value") || slices.Contains(path, "metadata") {
			continue
		}
		where := strings.Join(path, ".")
		const why = "holds an unpaired UTF-16 surrogate escape, which is not Unicode"
		if len(path) == 1 {
			switch path[0] {
			case "key":
				return fmt.Errorf("%w: %w", ErrMalformed, driver.Invalidf(storage.ErrInvalidKey, "%s %s", where, why))
			case "ns", "name", "namespace":
				return fmt.Errorf("%w: %w", ErrMalformed, driver.Invalidf(storage.ErrInvalidNamespace, "%s %s", where, why))
			}
		}
		return fmt.Errorf("%w: %q %s", ErrMalformed, where, why)
	}
	return nil
}
