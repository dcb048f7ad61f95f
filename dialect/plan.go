package dialect

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mycelia-kernel/storage/driver"
)

// Compiled statements for a cache.
//
// A statement's SQL depends on the shape of what it compiles (operators,
// paths, scalar kinds, list lengths, and the few decisions the compiler
// takes on a value, which Shape records), and its bound parameters on the
// values. A planning compiler (Planner) writes the same SQL as the plain
// one, with a Param in place of each parameter that derives from a value:
// the value it comes from (an Input) and how (an Xform). A cache keyed by
// the shape stores the SQL once, and binds a later call's values with
// Apply.

// Input is one value a statement binds: a filter scalar, or a value of the
// call (a namespace name, the time, a cursor position) held in S, or an
// integer held in I.
type Input struct {
	S driver.Scalar
	I int64
}

// StrInput is the Input of a string.
func StrInput(s string) Input { return Input{S: driver.Scalar{Kind: driver.KindString, Str: s}} }

// NumInput is the Input of a number.
func NumInput(n float64) Input { return Input{S: driver.Scalar{Kind: driver.KindNumber, Num: n}} }

// TimeInput is the Input of a time.
func TimeInput(t time.Time) Input { return Input{S: driver.Scalar{Kind: driver.KindTime, Time: t}} }

// IntInput is the Input of an integer.
func IntInput(i int64) Input { return Input{I: i} }

// Xform is how a bound parameter derives from its Input.
type Xform uint8

// The transforms.
const (
	XNum       Xform = iota // S.Num
	XStr                    // S.Str
	XStrKey                 // StrKeyValue(S.Str): the string as a declared index holds it
	XPrefixHi               // the upper bound of KeyRange(S.Str) (Shape records when there is none)
	XTime                   // TimeParam(S.Time)
	XTimeFloor              // TimeParam of S.Time in UTC truncated to the microsecond
	XTimeCeil               // XTimeFloor plus one microsecond
	XInt                    // I
	XMicros                 // TimeParam of the UTC time I microseconds after the epoch
)

// Param is a bound parameter as a planning compiler writes it: X applied
// to In.
type Param struct {
	In Input
	X  Xform
}

// Planner returns the planning form of c: the same SQL, with a Param for
// each parameter that derives from a value (see Bind).
func (c *Compiler) Planner() *Compiler { return &Compiler{j: c.j, plan: true} }

// Bind is the bound parameter x of in: a Param on a planning compiler,
// else its value, Apply(x, in).
func (c *Compiler) Bind(in Input, x Xform) any {
	if c.plan {
		return Param{In: in, X: x}
	}
	return c.Apply(x, in)
}

// Apply computes the parameter x of in.
func (c *Compiler) Apply(x Xform, in Input) any {
	switch x {
	case XNum:
		return in.S.Num
	case XStr:
		return in.S.Str
	case XStrKey:
		return c.StrKeyValue(in.S.Str)
	case XPrefixHi:
		_, hi := KeyRange(in.S.Str)
		return hi
	case XTime:
		return c.j.timeParam(in.S.Time)
	case XTimeFloor:
		return c.j.timeParam(in.S.Time.UTC().Truncate(time.Microsecond))
	case XTimeCeil:
		return c.j.timeParam(in.S.Time.UTC().Truncate(time.Microsecond).Add(time.Microsecond))
	case XInt:
		return in.I
	case XMicros:
		return c.j.timeParam(time.UnixMicro(in.I).UTC())
	}
	panic("dialect: unknown Xform " + strconv.Itoa(int(x)))
}

// The parameters of a filter scalar.
func (c *Compiler) pNum(s driver.Scalar) any { return c.Bind(Input{S: s}, XNum) }
func (c *Compiler) pStr(s driver.Scalar) any { return c.Bind(Input{S: s}, XStr) }
func (c *Compiler) pKey(s driver.Scalar) any { return c.Bind(Input{S: s}, XStrKey) }
func (c *Compiler) pHi(s driver.Scalar) any  { return c.Bind(Input{S: s}, XPrefixHi) }

// Shape appends to b the shape of filter e: everything of it that the SQL
// the compiler writes depends on (node kinds, fields, operators, the kind
// of each scalar, list lengths, booleans, and the decisions taken on a
// value: whether a string is empty, shorter than, as long as or longer
// than the prefix a declared index holds, whether KeyRange of it has an
// upper bound, whether a time falls on a microsecond), and to in each of
// its scalars. Two filters of one shape compile to the same SQL, whose
// parameters are the Apply of the same transforms of their scalars at the
// same positions of in, or constants.
func (c *Compiler) Shape(b []byte, e driver.Expr, in []Input) ([]byte, []Input) {
	switch e.Kind {
	case driver.ExprLeaf:
		b = append(b, 'L', byte('0'+e.Field.Root))
		b = strconv.AppendInt(b, int64(len(e.Field.Text)), 10)
		b = append(b, ':')
		b = append(b, e.Field.Text...)
		b = append(b, ' ')
		b = append(b, e.Op...)
		switch e.Op {
		case driver.OpExists:
			b = appendFlag(b, e.Exists, '+', '-')
		case driver.OpIn, driver.OpNin:
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(len(e.Values)), 10)
			for _, v := range e.Values {
				b = c.scalarShape(b, v)
				in = append(in, Input{S: v})
			}
			b = append(b, ']')
		default:
			b = c.scalarShape(b, e.Value)
			in = append(in, Input{S: e.Value})
		}
		return append(b, ';'), in
	case driver.ExprAnd, driver.ExprOr, driver.ExprNot:
		b = append(b, "&|!"[e.Kind-driver.ExprAnd], '(')
		for _, ch := range e.Children {
			b, in = c.Shape(b, ch, in)
		}
		return append(b, ')'), in
	}
	return append(b, 'A'+byte(e.Kind)), in
}

// scalarShape appends the shape of a scalar (see Shape).
func (c *Compiler) scalarShape(b []byte, s driver.Scalar) []byte {
	b = append(b, ' ', '0'+byte(s.Kind))
	switch s.Kind {
	case driver.KindBool:
		b = appendFlag(b, s.Bool, 't', 'f')
	case driver.KindString:
		if s.Str == "" {
			b = append(b, 'e')
		}
		if noPrefixHi(s.Str) {
			b = append(b, 'h')
		}
		if n := c.j.strKeyLen(); n > 0 {
			switch k := runesUpTo(s.Str, n+1); {
			case k < n:
				b = append(b, '<')
			case k == n:
				b = append(b, '=')
			default:
				b = append(b, '>')
			}
		}
	case driver.KindTime:
		t := s.Time.UTC()
		if !t.Truncate(time.Microsecond).Equal(t) {
			b = append(b, 'n')
		}
	case driver.KindNumber:
		if math.Signbit(s.Num) && s.Num == 0 {
			// -0 and 0 are one parameter value but not one Input.
			b = append(b, '-')
		}
	}
	return b
}

// appendFlag appends yes when v holds, else no.
func appendFlag(b []byte, v bool, yes, no byte) []byte {
	if v {
		return append(b, yes)
	}
	return append(b, no)
}

// noPrefixHi reports whether KeyRange(s) has no upper bound: s is empty or
// all its characters are the last code point.
func noPrefixHi(s string) bool {
	for _, r := range s {
		if r != utf8.MaxRune {
			return false
		}
	}
	return true
}

// runesUpTo counts the characters of s, stopping at max.
func runesUpTo(s string, max int) int {
	n := 0
	for range s {
		n++
		if n == max {
			break
		}
	}
	return n
}

// PlanArg is one parameter of a cached statement: X applied to the Input
// at Slot, or Const when Slot < 0.
type PlanArg struct {
	Slot  int
	X     Xform
	Const any
}

// MakePlan turns params, the parameters of SQL a planning compiler wrote,
// into a plan over in (the Inputs that Shape and the caller collected):
// each Param becomes the first Input of in equal to its own, every other
// parameter a constant. It also returns the parameters' values. ok is
// false when a Param's Input is not in in: the statement cannot be cached.
//
// The plan binds the values of another call with the same key correctly
// when the key records every equality between the Inputs
// (AppendEqualities): the first equal Input of this call is equal to the
// one the Param came from in every call of that key.
func (c *Compiler) MakePlan(params []any, in []Input) (plan []PlanArg, args []any, ok bool) {
	if params == nil {
		return nil, nil, true
	}
	plan, args, ok = make([]PlanArg, len(params)), make([]any, len(params)), true
	index := func(v Input) int { return slices.Index(in, v) }
	if len(in) > 32 {
		// A wide filter (up to storage.MaxFilterNodes leaves, each an
		// Input and a Param or more): a search of in per Param was
		// quadratic.
		first := make(map[Input]int, len(in))
		for i := len(in) - 1; i >= 0; i-- {
			first[in[i]] = i
		}
		index = func(v Input) int {
			if j, ok := first[v]; ok {
				return j
			}
			return -1
		}
	}
	for i, a := range params {
		p, isParam := a.(Param)
		if !isParam {
			plan[i], args[i] = PlanArg{Slot: -1, Const: a}, a
			continue
		}
		args[i] = c.Apply(p.X, p.In)
		j := index(p.In)
		if j < 0 {
			ok = false
			continue
		}
		plan[i] = PlanArg{Slot: j, X: p.X}
	}
	return plan, args, ok
}

// BindPlan returns the parameters of plan for the Inputs in.
func (c *Compiler) BindPlan(plan []PlanArg, in []Input) []any {
	if plan == nil {
		return nil
	}
	args := make([]any, len(plan))
	for i, a := range plan {
		if a.Slot < 0 {
			args[i] = a.Const
		} else {
			args[i] = c.Apply(a.X, in[a.Slot])
		}
	}
	return args
}

// AppendEqualities appends to a key which Inputs of in are equal: for
// each, the position of the first equal one before it, if any.
func AppendEqualities(b []byte, in []Input) []byte {
	b = append(b, '=')
	pair := func(i, j int) {
		b = strconv.AppendInt(append(b, ','), int64(i), 10)
		b = strconv.AppendInt(append(b, '='), int64(j), 10)
	}
	if len(in) > 32 {
		first := make(map[Input]int, len(in))
		for i, v := range in {
			if j, ok := first[v]; ok {
				pair(i, j)
			} else {
				first[v] = i
			}
		}
		return b
	}
	for i := 1; i < len(in); i++ {
		for j := range i {
			if in[j] == in[i] {
				pair(i, j)
				break
			}
		}
	}
	return b
}
