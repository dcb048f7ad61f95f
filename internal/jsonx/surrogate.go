package jsonx

import "iter"

// LoneSurrogates yields, for each string of the JSON text b (a member name or
// a value) that holds an unpaired UTF-16 surrogate escape, such as
// "sur\ud800". encoding/json decodes such an escape as U+FFFD, so two
// different strings would decode to the same one: a caller that decodes
// with encoding/json and must keep strings distinct (keys) looks first.
//
// Each path is the member names from the top-level value down to the
// string (array indices are not in it; a member name that holds the
// surrogate is the last element). It stops early when b is not JSON far
// enough to tell (the decoder reports that).
func LoneSurrogates(b []byte) iter.Seq[[]string] {
	return func(yield func([]string) bool) { loneSurrogates(b, yield) }
}

func loneSurrogates(b []byte, yield func([]string) bool) {
	type frame struct {
		object bool
		member string
	}
	var stack []frame
	expectName := false // the next string in an object is a member name
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, frame{object: true})
			expectName = true
		case '[':
			stack = append(stack, frame{})
			expectName = false
		case '}', ']':
			if len(stack) == 0 {
				return
			}
			stack = stack[:len(stack)-1]
			expectName = false
		case ',':
			expectName = len(stack) > 0 && stack[len(stack)-1].object
		case ':':
			expectName = false
		case '"':
			end, lone, ok := scanString(b, i)
			if !ok {
				return
			}
			name := expectName
			if name {
				// Escapes stay as written: enough to compare with the
				// ASCII member names of a request.
				stack[len(stack)-1].member = string(b[i+1 : end-1])
			}
			if lone {
				var path []string
				for _, f := range stack {
					if f.object {
						path = append(path, f.member)
					}
				}
				if !yield(path) {
					return
				}
			}
			i = end - 1
		}
	}
}

// scanString scans the string whose opening quote is b[i]: the offset just
// past its closing quote, whether it holds a lone surrogate escape, and
// false when it is not terminated.
func scanString(b []byte, i int) (end int, lone bool, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '"':
			return j + 1, lone, true
		case '\\':
			if j+1 >= len(b) {
				return 0, false, false
			}
			if b[j+1] != 'u' {
				j++
				continue
			}
			r, hexOK := hex4(b, j+2)
			if !hexOK {
				return 0, false, false
			}
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if j+11 < len(b) && b[j+6] == '\\' && b[j+7] == 'u' {
					if r2, ok := hex4(b, j+8); ok && r2 >= 0xDC00 && r2 < 0xE000 {
						j += 11
						continue
					}
				}
				lone = true
			case r >= 0xDC00 && r < 0xE000:
				lone = true
			}
			j += 5
		}
	}
	return 0, false, false
}
