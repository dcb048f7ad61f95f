package routes

import (
	"bytes"
	"slices"
	"strings"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/driver"
	"github.com/mycelia-kernel/storage/internal/jsonx"
)

// loneSurrogate refuses a request whose strings hold an unpaired UTF-16
// surrogate escape ("sur\ud800"), which encoding/json would decode as
// U+FFFD, so that two different keys on the wire would name one key in the
// store. A key (key, keys, entries[].key) is ErrInvalidKey, a namespace
// ErrInvalidNamespace, a filter ErrInvalidFilter, anything else
// ErrInvalidRequest. Values and metadata travel as raw JSON: the store
// checks them itself (ErrInvalidValue), so they are left alone here.
func loneSurrogate(body []byte) error {
	if !bytes.Contains(body, []byte(`\u`)) {
		return nil // the common case: no escape to look at
	}
	for path := range jsonx.LoneSurrogates(body) {
		where := strings.Join(path, ".")
		const why = "holds an unpaired UTF-16 surrogate escape, which is not Unicode"
		raw := slices.IndexFunc(path, func(m string) bool {
			return m == "value" || m == "metadata" || m == "where" || m == "filter"
		})
		switch {
		case raw >= 0 && (path[raw] == "where" || path[raw] == "filter"):
			return driver.Invalidf(storage.ErrInvalidFilter, "%s %s", where, why)
		case raw >= 0:
			continue
		case len(path) == 0:
			return badRequest("the body %s", why)
		}
		switch path[len(path)-1] {
		case "key", "keys":
			return driver.Invalidf(storage.ErrInvalidKey, "%s %s", where, why)
		case "namespace", "name":
			return driver.Invalidf(storage.ErrInvalidNamespace, "%s %s", where, why)
		}
		return badRequest("%s %s", where, why)
	}
	return nil
}
