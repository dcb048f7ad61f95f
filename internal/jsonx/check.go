package jsonx

import (
	"encoding/binary"
	"hash/maphash"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Kind classifies why Check refused its input.
type Kind uint8

const (
	// KindSyntax: not exactly one RFC 8259 JSON value.
	KindSyntax Kind = iota + 1
	// KindUTF8: the input is not valid UTF-8.
	KindUTF8
	// KindNUL: a string (or object key) contains the escape \u0000.
	KindNUL
	// KindSurrogate: a \uD800-\uDFFF escape that is not half of a pair.
	KindSurrogate
	// KindDuplicateKey: an object has two members with the same decoded key.
	KindDuplicateKey
	// KindDepth: arrays and objects nest deeper than the limit.
	KindDepth
	// KindNumberRange: a number PostgreSQL's numeric type cannot hold.
	KindNumberRange
	// KindNumberExpansion: the numbers written out in full (as PostgreSQL's
	// jsonb returns them: no exponent) would make the value more than
	// MaxExpansion times its size plus ExpansionSlack bytes.
	KindNumberExpansion
)

// The bound on what numbers may expand to (KindNumberExpansion): a value
// whose numbers are written out in full is at most MaxExpansion times its
// size plus ExpansionSlack bytes, so that a read never answers much more
// than was written. The slack lets a few numbers of any double's magnitude
// (1e308 is 309 digits written out) through in a small value.
const (
	MaxExpansion   = 4
	ExpansionSlack = 8 << 10
)

// Error is the error Check (and MergePatch, for invalid input) returns.
type Error struct {
	Kind   Kind
	Offset int // byte offset in the input at which the problem was found
	// Detail depends on Kind: what was expected or found (KindSyntax), the
	// escape as written in lower case (KindSurrogate), the decoded key,
	// possibly shortened (KindDuplicateKey), the limit (KindDepth), the
	// number as written, possibly shortened (KindNumberRange).
	Detail string
}

func (e *Error) Error() string {
	off := strconv.Itoa(e.Offset)
	switch e.Kind {
	case KindUTF8:
		return "invalid UTF-8 at offset " + off
	case KindNUL:
		return `string contains \u0000 at offset ` + off
	case KindSurrogate:
		return "unpaired surrogate " + e.Detail + " at offset " + off
	case KindDuplicateKey:
		return "duplicate object key " + strconv.Quote(e.Detail) + " at offset " + off
	case KindDepth:
		return "nesting deeper than " + e.Detail + " at offset " + off
	case KindNumberRange:
		return "number " + e.Detail + " is out of range for PostgreSQL numeric (at most 131072 digits before the decimal point, 16383 after it), at offset " + off
	case KindNumberExpansion:
		return "numbers written out in full would take more than " + e.Detail + " bytes, at offset " + off
	default:
		return "invalid JSON at offset " + off + ": " + e.Detail
	}
}

// Check reports whether b is one JSON value (surrounding whitespace allowed)
// storable on every dialect.
//
// It returns nil, or an *Error whose message says what is wrong and at which
// byte offset. Check refuses anything that is not exactly one RFC 8259 JSON
// value, invalid UTF-8, the escape \u0000 in any string or key, unpaired
// UTF-16 surrogate escapes, duplicate keys (compared after decoding escapes)
// within one object, arrays and objects nested deeper than maxDepth (the
// depth of [] is 1; a maxDepth below 1 allows scalars only), and numbers
// outside the range of PostgreSQL's numeric type (more than 131072 digits
// before the decimal point, more than 16383 after it, or an exponent of
// magnitude 2^30-1 or more), which PostgreSQL's jsonb refuses.
//
// Check runs in one pass, in time linear in len(b), and does not allocate
// except to report an error (state for duplicate-key tracking is pooled).
func Check(b []byte, maxDepth int) error {
	s := getScanner(b, maxDepth, false)
	err := s.run()
	putScanner(s)
	return err
}

// CheckDuplicateKeys reports whether b is one JSON value (surrounding
// whitespace allowed) with no object holding two members of the same
// decoded key, nested at most maxDepth deep. Unlike Check it lets through
// what encoding/json accepts: the \u0000 escape, unpaired surrogates and
// numbers of any size, so that a decoder can give those their own errors.
// It returns nil or an *Error, like Check.
func CheckDuplicateKeys(b []byte, maxDepth int) error {
	s := getScanner(b, maxDepth, true)
	s.dups = true
	err := s.run()
	putScanner(s)
	return err
}

// IsObject reports whether the first non-whitespace byte of b is '{'.
func IsObject(b []byte) bool {
	i := skipWS(b, 0)
	return i < len(b) && b[i] == '{'
}

// Limits of PostgreSQL's numeric type (src/backend/utils/adt/numeric.c):
// the weight of the first base-10000 digit is an int16, the display scale
// has 14 bits, and set_var_from_str refuses exponents of INT_MAX/2 or more
// (PostgreSQL 16 accepts exactly INT_MAX/2; we refuse it to fit all versions).
const (
	pgMaxDecExp   = 4*32767 + 3 // highest power of ten of a leading digit
	pgMinDecExp   = -4 * 32768  // lowest
	pgMaxDscale   = 0x3FFF
	pgMaxExponent = 1<<30 - 1 // INT_MAX/2
)

// smallObject is how many keys an object may have before duplicate
// detection switches from a linear scan to a hash table.
const smallObject = 8

// frame is one open array or object.
type frame struct {
	obj        bool
	keyStart   int // first of this object's keys in scanner.keys
	arenaStart int // its decoded keys start here in scanner.arena
	tabStart   int // its hash table, if any, is tables[tabStart:tabStart+tabLen]
	tabLen     int
	span       int // index in scanner.spans when recording
}

// keyRef is one key of an open object: b[off:off+n], or arena[off:off+n] if
// the key had escapes and was decoded there.
type keyRef struct {
	off, n int
	h      uint64 // hash of the key, set once its object has a table
	dec    bool
}

// span records where a container opens and closes (for MergePatch).
type span struct{ open, close int }

// scanner holds the state of one run. Everything in it is reused from run to
// run through a pool; none of it points into the input once the run is over.
type scanner struct {
	b        []byte
	maxDepth int
	lenient  bool // syntax and UTF-8 only: no NUL, surrogate, duplicate or number-range checks
	dups     bool // with lenient: check duplicate keys all the same
	// grown is how many bytes the numbers seen so far gain when written
	// out in full (negative when they shrink).
	grown  int64
	record bool // record container spans

	frames []frame
	keys   []keyRef
	arena  []byte
	tables []int32 // open-addressing tables: 0 = empty, else index+1 into keys
	spans  []span
}

var (
	scannerPool sync.Pool
	hashSeed    = maphash.MakeSeed()
)

func getScanner(b []byte, maxDepth int, lenient bool) *scanner {
	s, _ := scannerPool.Get().(*scanner)
	if s == nil {
		s = new(scanner)
	}
	s.b, s.maxDepth, s.lenient, s.record, s.dups, s.grown = b, maxDepth, lenient, false, false, 0
	return s
}

// Pooled buffers bigger than this are dropped rather than kept.
const maxPooled = 1 << 16

func putScanner(s *scanner) {
	s.b = nil
	if cap(s.frames) > maxPooled || cap(s.keys) > maxPooled || cap(s.arena) > maxPooled ||
		cap(s.tables) > maxPooled || cap(s.spans) > maxPooled {
		return
	}
	s.frames, s.keys, s.arena, s.tables, s.spans = s.frames[:0], s.keys[:0], s.arena[:0], s.tables[:0], s.spans[:0]
	scannerPool.Put(s)
}

// Byte classes.
var (
	// strSafe: bytes that need no attention inside a string.
	strSafe [256]bool
	// numChar: bytes that may follow the first byte of a number or literal.
	numChar [256]bool
)

func init() {
	for c := 0x20; c < 0x80; c++ {
		strSafe[c] = c != '"' && c != '\\'
	}
	for _, c := range []byte("0123456789+-.eEabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		numChar[c] = true
	}
}

func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c-'0' < 10 }

func (s *scanner) errAt(kind Kind, off int, detail string) error {
	return &Error{Kind: kind, Offset: off, Detail: detail}
}

// rangeErr reports the number b[start:end] as out of range, with its
// spelling (ShortNumber) as Detail.
func (s *scanner) rangeErr(start, end int) error {
	return s.errAt(KindNumberRange, start, ShortNumber(string(s.b[start:end])))
}

// ShortNumber is a number's spelling for a message: as it is up to 40
// bytes, else its first 39 bytes and an ellipsis.
func ShortNumber(n string) string {
	if len(n) > 40 {
		return n[:39] + "…"
	}
	return n
}

func (s *scanner) syntax(off int, detail string) error {
	return &Error{Kind: KindSyntax, Offset: off, Detail: detail}
}

// unexpected reports the byte at b[i] (or the end of input) as unexpected.
func (s *scanner) unexpected(i int, context string) error {
	b := s.b
	if i >= len(b) {
		return s.syntax(i, "unexpected end of input "+context)
	}
	c := b[i]
	if c >= utf8.RuneSelf {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return s.errAt(KindUTF8, i, "")
		}
		return s.syntax(i, "unexpected character "+strconv.QuoteRune(r)+" "+context)
	}
	return s.syntax(i, "unexpected character "+strconv.QuoteRune(rune(c))+" "+context)
}

// run checks s.b.
func (s *scanner) run() error {
	b := s.b
	i := skipWS(b, 0)
	var err error
value:
	for {
		// A value starts at i.
		if i >= len(b) {
			return s.unexpected(i, "looking for beginning of value")
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(s.frames) >= s.maxDepth {
				return s.errAt(KindDepth, i, strconv.Itoa(max(s.maxDepth, 0)))
			}
			f := frame{obj: c == '{', keyStart: len(s.keys), arenaStart: len(s.arena), tabStart: len(s.tables)}
			if s.record {
				f.span = len(s.spans)
				s.spans = append(s.spans, span{open: i, close: -1})
			}
			s.frames = append(s.frames, f)
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				s.pop(i)
				i++
				break
			}
			if c == '{' {
				if i, err = s.key(i); err != nil {
					return err
				}
			}
			continue value
		case '"':
			if i, _, err = s.str(i); err != nil {
				return err
			}
		case 't':
			if i, err = s.literal(i, "true"); err != nil {
				return err
			}
		case 'f':
			if i, err = s.literal(i, "false"); err != nil {
				return err
			}
		case 'n':
			if i, err = s.literal(i, "null"); err != nil {
				return err
			}
		default:
			if c == '-' || isDigit(c) {
				if i, err = s.number(i); err != nil {
					return err
				}
				break
			}
			return s.unexpected(i, "looking for beginning of value")
		}
		// A value ended at i: close containers, or find the next value.
		for {
			i = skipWS(b, i)
			n := len(s.frames)
			if n == 0 {
				if i < len(b) {
					return s.unexpected(i, "after top-level value")
				}
				return nil
			}
			if i >= len(b) {
				return s.unexpected(i, "in array or object")
			}
			obj := s.frames[n-1].obj
			switch c := b[i]; {
			case c == ',':
				i = skipWS(b, i+1)
				if obj {
					if i, err = s.key(i); err != nil {
						return err
					}
				}
				continue value
			case c == '}' && obj, c == ']' && !obj:
				s.pop(i)
				i++
			case obj:
				return s.unexpected(i, "after object member, expecting ',' or '}'")
			default:
				return s.unexpected(i, "after array element, expecting ',' or ']'")
			}
		}
	}
}

// pop closes the innermost container, whose closing bracket is at b[i].
func (s *scanner) pop(i int) {
	f := s.frames[len(s.frames)-1]
	s.frames = s.frames[:len(s.frames)-1]
	if f.obj {
		s.keys = s.keys[:f.keyStart]
		s.arena = s.arena[:f.arenaStart]
		s.tables = s.tables[:f.tabStart]
	}
	if s.record {
		s.spans[f.span].close = i
	}
}

func (s *scanner) literal(i int, lit string) (int, error) {
	b := s.b
	for j := 0; j < len(lit); j++ {
		if i+j >= len(b) || b[i+j] != lit[j] {
			return 0, s.unexpected(i+j, "in literal "+lit)
		}
	}
	return i + len(lit), nil
}

// key parses an object key starting at b[i], checks it for duplicates and
// parses the ':' after it; it returns the offset of the member's value.
func (s *scanner) key(i int) (int, error) {
	b := s.b
	if i >= len(b) || b[i] != '"' {
		return 0, s.unexpected(i, "looking for beginning of object key string")
	}
	end, esc, err := s.str(i)
	if err != nil {
		return 0, err
	}
	if !s.lenient || s.dups {
		if err := s.addKey(i, end, esc); err != nil {
			return 0, err
		}
	}
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		return 0, s.unexpected(i, "after object key, expecting ':'")
	}
	return skipWS(b, i+1), nil
}

func (s *scanner) keyBytes(k keyRef) []byte {
	if k.dec {
		return s.arena[k.off : k.off+k.n]
	}
	return s.b[k.off : k.off+k.n]
}

// addKey records the key b[start:end] (quotes included) of the innermost
// object, reporting a duplicate.
func (s *scanner) addKey(start, end int, esc bool) error {
	k := keyRef{off: start + 1, n: end - start - 2}
	kb := s.b[k.off : k.off+k.n]
	if esc {
		a := len(s.arena)
		s.arena = appendUnquoted(s.arena, kb)
		k.off, k.n, k.dec = a, len(s.arena)-a, true
		kb = s.arena[a:]
	}
	f := &s.frames[len(s.frames)-1]
	keys := s.keys[f.keyStart:]
	dup := false
	if f.tabLen == 0 {
		// A small object: compare with every key so far (no hashing).
		for _, o := range keys {
			if o.n == len(kb) && string(s.keyBytes(o)) == string(kb) {
				dup = true
				break
			}
		}
	} else {
		k.h = maphash.Bytes(hashSeed, kb)
		tab := s.tables[f.tabStart : f.tabStart+f.tabLen]
		mask := uint64(len(tab) - 1)
		for j := k.h & mask; tab[j] != 0; j = (j + 1) & mask {
			if o := keys[tab[j]-1]; o.h == k.h && o.n == len(kb) && string(s.keyBytes(o)) == string(kb) {
				dup = true
				break
			}
		}
	}
	if dup {
		return s.errAt(KindDuplicateKey, start, shorten(kb))
	}
	s.keys = append(s.keys, k)
	n := len(s.keys) - f.keyStart
	switch {
	case n <= smallObject:
	case f.tabLen == 0 || 2*n > f.tabLen:
		keys = s.keys[f.keyStart:]
		if f.tabLen == 0 { // switching to a table: hash the keys so far
			for j := range keys {
				keys[j].h = maphash.Bytes(hashSeed, s.keyBytes(keys[j]))
			}
		}
		// (Re)build the table: it is the last one in s.tables, since every
		// object nested in this one has been closed.
		size := 4 * smallObject
		for size < 4*n {
			size *= 2
		}
		s.tables = s.tables[:f.tabStart]
		s.tables = append(s.tables, make([]int32, size)...)
		f.tabLen = size
		tab := s.tables[f.tabStart:]
		mask := uint64(size - 1)
		for idx, o := range keys {
			j := o.h & mask
			for tab[j] != 0 {
				j = (j + 1) & mask
			}
			tab[j] = int32(idx + 1)
		}
	default:
		tab := s.tables[f.tabStart : f.tabStart+f.tabLen]
		mask := uint64(len(tab) - 1)
		j := k.h & mask
		for tab[j] != 0 {
			j = (j + 1) & mask
		}
		tab[j] = int32(n)
	}
	return nil
}

// shorten cuts a key for an error message to at most 100 bytes, on a rune
// boundary.
func shorten(kb []byte) string {
	const limit = 100
	if len(kb) <= limit {
		return string(kb)
	}
	n := limit
	for n > 0 && !utf8.RuneStart(kb[n]) {
		n--
	}
	return string(kb[:n]) + "..."
}

// SWAR helpers on 8 bytes at a time.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// needsAttention reports whether any byte of x is < 0x20, '"', '\\' or >= 0x80.
func needsAttention(x uint64) bool {
	less := (x - lsb*0x20) & ^x & msb
	q := x ^ (lsb * '"')
	quote := (q - lsb) & ^q & msb
	bs := x ^ (lsb * '\\')
	back := (bs - lsb) & ^bs & msb
	return (less | quote | back | x&msb) != 0
}

// str scans the string starting with the quote at b[i] and returns the
// offset just past its closing quote and whether it contains escapes.
func (s *scanner) str(i int) (int, bool, error) {
	b := s.b
	start := i
	i++
	esc := false
	for {
		for i+8 <= len(b) && !needsAttention(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && strSafe[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, false, s.syntax(start, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, s.syntax(start, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return 0, false, s.syntax(i, `invalid \u escape`)
				}
				switch {
				case r == 0 && !s.lenient:
					return 0, false, s.errAt(KindNUL, i, "")
				case r >= 0xD800 && r < 0xDC00:
					// A high surrogate must be followed by a low one.
					if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
						r2, ok := hex4(b, i+8)
						if !ok {
							return 0, false, s.syntax(i+6, `invalid \u escape`)
						}
						if r2 >= 0xDC00 && r2 < 0xE000 {
							i += 12
							continue
						}
					}
					if !s.lenient {
						return 0, false, s.errAt(KindSurrogate, i, surrogateText(r))
					}
				case r >= 0xDC00 && r < 0xE000 && !s.lenient:
					return 0, false, s.errAt(KindSurrogate, i, surrogateText(r))
				}
				i += 6
			default:
				return 0, false, s.syntax(i, "invalid escape "+strconv.Quote(string(b[i:i+2])))
			}
		case c < 0x20:
			return 0, false, s.syntax(i, "control character "+strconv.QuoteRune(rune(c))+" in string")
		default: // c >= 0x80
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, s.errAt(KindUTF8, i, "")
			}
			i += size
		}
	}
}

func surrogateText(r rune) string {
	const hexdig = "0123456789abcdef"
	return string([]byte{'\\', 'u', hexdig[r>>12&15], hexdig[r>>8&15], hexdig[r>>4&15], hexdig[r&15]})
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendUnquoted appends the decoded form of the string contents s (between
// the quotes, already checked by str) to dst. Lone surrogates, which only the
// lenient mode lets through, decode as U+FFFD, as in encoding/json.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(s) {
			return dst // cannot happen on checked input
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if r2, ok := hex4(s, i+2); ok && r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r) // a lone surrogate becomes U+FFFD
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// number scans the number starting at b[i] (a '-' or a digit).
func (s *scanner) number(i int) (int, error) {
	b := s.b
	start := i
	if b[i] == '-' {
		i++
	}
	intStart := i
	switch {
	case i >= len(b) || !isDigit(b[i]):
		return 0, s.unexpected(i, "in number, expecting a digit")
	case b[i] == '0':
		i++
		if i < len(b) && isDigit(b[i]) {
			return 0, s.syntax(i-1, "number has a leading zero")
		}
	default:
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	intLen := i - intStart
	fracStart, fracLen := i, 0
	if i < len(b) && b[i] == '.' {
		i++
		fracStart = i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		fracLen = i - fracStart
		if fracLen == 0 {
			return 0, s.unexpected(i, "after decimal point in number, expecting a digit")
		}
	}
	var exp int64
	hasExp := false
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		hasExp = true
		i++
		neg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			neg = b[i] == '-'
			i++
		}
		expStart := i
		for i < len(b) && isDigit(b[i]) {
			if exp < 1<<40 { // saturate: anything this big is out of range
				exp = exp*10 + int64(b[i]-'0')
			}
			i++
		}
		if i == expStart {
			return 0, s.unexpected(i, "in exponent of number, expecting a digit")
		}
		if neg {
			exp = -exp
		}
	}
	if s.lenient || (!hasExp && fracLen <= pgMaxDscale && intLen <= pgMaxDecExp) {
		return i, nil
	}
	// The slow path: mirror PostgreSQL's numeric input.
	if exp >= pgMaxExponent || exp <= -pgMaxExponent {
		return 0, s.rangeErr(start, i)
	}
	if int64(fracLen)-exp > pgMaxDscale {
		return 0, s.rangeErr(start, i)
	}
	// The power of ten of the first non-zero digit, if any.
	var p int64
	if b[intStart] != '0' {
		p = int64(intLen) - 1 + exp
	} else {
		k := 0
		for k < fracLen && b[fracStart+k] == '0' {
			k++
		}
		if k == fracLen { // zero
			if hasExp {
				return i, s.grow(start, i, int64(fracLen), exp, -1)
			}
			return i, nil
		}
		p = -int64(k) - 1 + exp
	}
	if p > pgMaxDecExp || p < pgMinDecExp {
		return 0, s.rangeErr(start, i)
	}
	if hasExp {
		if err := s.grow(start, i, int64(fracLen), exp, p); err != nil {
			return 0, err
		}
	}
	return i, nil
}

// grow accounts for the number b[start:end], whose first non-zero digit
// has the power of ten p and whose scale is fracLen-exp, written out in
// full, and fails once the value's numbers have grown past the bound.
func (s *scanner) grow(start, end int, fracLen, exp, p int64) error {
	n := int64(1) // the integer part: "0" below 1
	if p >= 0 {
		n = p + 1
	}
	if s.b[start] == '-' {
		n++
	}
	if scale := fracLen - exp; scale > 0 {
		n += 1 + scale
	}
	s.grown += n - int64(end-start)
	limit := int64(len(s.b))*(MaxExpansion-1) + ExpansionSlack
	if s.grown > limit {
		return s.errAt(KindNumberExpansion, start, strconv.FormatInt(int64(len(s.b))*MaxExpansion+ExpansionSlack, 10))
	}
	return nil
}
