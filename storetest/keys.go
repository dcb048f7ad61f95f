package storetest

import (
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage"
)

var keyTests = []test{
	{"Valid", testKeysValid},
	{"MaxLength", testKeysMaxLength},
	{"Empty", func(t *testing.T, s *suite) { testInvalidKey(t, s, "") }},
	{"TooLong", func(t *testing.T, s *suite) { testInvalidKey(t, s, strings.Repeat("k", storage.MaxKeyLen+1)) }},
	{"TooLongMultibyte", func(t *testing.T, s *suite) { testInvalidKey(t, s, strings.Repeat("é", 512)+"x") }},
	{"NUL", func(t *testing.T, s *suite) { testInvalidKey(t, s, "a\x00b") }},
	{"InvalidUTF8", func(t *testing.T, s *suite) { testInvalidKey(t, s, "a\xffb") }},
	{"TruncatedUTF8", func(t *testing.T, s *suite) { testInvalidKey(t, s, "\xe6\x97") }},
	{"PrincipalCase", func(t *testing.T, s *suite) { testInvalidKey(t, s, "Principal://k/data/x") }},
	{"PrincipalNotData", func(t *testing.T, s *suite) { testInvalidKey(t, s, "principal://k/namespace/x") }},
	{"PrincipalDotDot", func(t *testing.T, s *suite) { testInvalidKey(t, s, "principal://a/data/../../b/data/x") }},
	{"Distinct", testKeysDistinct},
}

// validKeys are keys every store must accept and keep apart, including
// characters that SQL LIKE patterns, quoting and escaping give meaning to.
var validKeys = []struct{ name, key string }{
	{"letter", "a"},
	{"colon", ":"},
	{"slash", "/"},
	{"path", "users/42:profile"},
	{"space", " "},
	{"spaces", "  two  spaces  "},
	{"unicode", "日本語のキー"},
	{"emoji", "😀🚀"},
	{"combining", "e\u0301"},
	{"quotes", `'"` + "`"},
	{"percent", "100%_off"},
	{"backslash", `a\b\\c`},
	{"glob", "*?[]{}"},
	{"control", "tab\there\nnewline"},
	{"sqlish", "'; DROP TABLE entries; --"},
	{"principalData", "principal://k/data/x"},
	{"principalLookalike", "рrincipal://k/namespace/x"}, // Cyrillic "р"
	{"default", "default"},
}

func testKeysValid(t *testing.T, s *suite) {
	st := s.newStore(t)
	for i, tc := range validKeys {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			value := mustJSON(t, map[string]any{"i": i, "key": tc.key})
			mustSet(t, st, tc.key, raw(value))
			e := wantEntry(t, st, tc.key, string(value), 1)
			wantEntryFields(t, e, storage.DefaultNamespace, tc.key)
			ok, err := st.Has(ctx, tc.key)
			noErr(t, err, "Has")
			if !ok {
				t.Errorf("Has(%q) = false after Set", tc.key)
			}
			md, err := st.GetMetadata(ctx, tc.key)
			noErr(t, err, "GetMetadata")
			if md.Version != 1 {
				t.Errorf("GetMetadata(%q).Version = %d, want 1", tc.key, md.Version)
			}
		})
	}
	// Every key kept its own value.
	wantSize(t, st, int64(len(validKeys)))
	for i, tc := range validKeys {
		value := mustJSON(t, map[string]any{"i": i, "key": tc.key})
		wantEntry(t, st, tc.key, string(value), 1)
	}
	for _, tc := range validKeys {
		noErr(t, st.Delete(t.Context(), tc.key), "Delete("+quote(tc.key)+")")
		wantMissing(t, st, tc.key)
	}
	wantSize(t, st, 0)
}

func testKeysMaxLength(t *testing.T, s *suite) {
	st := s.newStore(t)
	for _, key := range []string{
		strings.Repeat("k", storage.MaxKeyLen),
		strings.Repeat("é", storage.MaxKeyLen/2),       // 2 bytes each
		strings.Repeat("😀", storage.MaxKeyLen/4),       // 4 bytes each
		strings.Repeat("k", storage.MaxKeyLen-1) + "/", // distinct from the first
	} {
		if len(key) != storage.MaxKeyLen {
			t.Fatalf("test key is %d bytes", len(key))
		}
		mustSet(t, st, key, raw(`"long"`))
		e := wantEntry(t, st, key, `"long"`, 1)
		if e.Key != key {
			t.Errorf("Entry.Key is %d bytes, want the %d-byte key", len(e.Key), len(key))
		}
	}
	wantSize(t, st, 4)
}

// testInvalidKey checks that every key operation refuses key with
// ErrInvalidKey and writes nothing, not even the namespace it names.
func testInvalidKey(t *testing.T, s *suite, key string) {
	st := s.newStore(t)
	ctx := t.Context()
	mustSet(t, st, "existing", raw(`1`))
	before := snapshot(t, st)
	for _, opts := range [][]storage.Option{nil, {ns("fresh")}} {
		_, err := st.Get(ctx, key, opts...)
		wantErr(t, err, storage.ErrInvalidKey, "Get")
		wantErr(t, st.Set(ctx, key, raw(`1`), opts...), storage.ErrInvalidKey, "Set")
		wantErr(t, st.Set(ctx, key, raw(`1`), append(opts, storage.NoOverwrite())...), storage.ErrInvalidKey, "Set NoOverwrite")
		wantErr(t, st.Delete(ctx, key, opts...), storage.ErrInvalidKey, "Delete")
		_, err = st.Has(ctx, key, opts...)
		wantErr(t, err, storage.ErrInvalidKey, "Has")
		_, err = st.GetMetadata(ctx, key, opts...)
		wantErr(t, err, storage.ErrInvalidKey, "GetMetadata")
		wantErr(t, st.SetMetadata(ctx, key, map[string]any{"a": 1}, opts...), storage.ErrInvalidKey, "SetMetadata")
		unchanged(t, st, before, "an invalid key")
	}
	wantEntry(t, st, "existing", `1`, 1)
}

// testKeysDistinct checks that keys differing only in case, trailing space,
// Unicode normalization or a prefix are different keys.
func testKeysDistinct(t *testing.T, s *suite) {
	st := s.newStore(t)
	keys := []string{"key", "Key", "KEY", "key ", " key", "ke", "keys", "é", "e\u0301", "ﬁ", "fi"}
	for i, k := range keys {
		mustSet(t, st, k, i)
	}
	wantSize(t, st, int64(len(keys)))
	for i, k := range keys {
		wantEntry(t, st, k, string(mustJSON(t, i)), 1)
	}
}
