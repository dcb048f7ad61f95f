package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// queryRows runs a dynamic statement outside transactions (Query, Count,
// List, the namespace and index reads, …) as the point reads run theirs:
// through the driver statement the reader connection keeps for its text
// (readConn.readText), its rows read from the driver's values. database/sql
// would find the statement prepared on the connection it took, track a
// *sql.Rows and convert each column by reflection; here the common
// destinations are set directly, and the others as database/sql sets them
// (driverRow.Scan).
func (q fastReadQ) queryRows(ctx context.Context, text string, args []any, scan func(r rowScanner) error) error {
	nv, err := namedArgs(args)
	if err != nil {
		return err
	}
	r := driverRow{}
	return q.d.queryText(ctx, text, nv, func(v []driver.Value) error {
		r.vals = v
		return scan(&r)
	})
}

// namedArgs are args as database/sql passes them to the SQLite driver
// (which has no NamedValueChecker of its own): each through
// driver.DefaultParameterConverter, Valuers included.
func namedArgs(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		switch a.(type) {
		case string, int64, float64, nil:
		default:
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return nil, fmt.Errorf("sqlstore: argument %d: %w", i+1, err)
			}
			a = v
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv, nil
}

// driverRow is a row of a dynamic statement read through the driver.
type driverRow struct {
	vals []driver.Value
}

// Scan sets dest from the row's values as *sql.Rows.Scan does: the
// driver's string, int64 and nil into a *string, *int64, *any or pointer
// to pointer directly, any other value through database/sql's own
// conversion (the Scan of its sql.Null types).
func (r *driverRow) Scan(dest ...any) error {
	if len(dest) != len(r.vals) {
		return fmt.Errorf("sqlstore: %d destinations for %d columns", len(dest), len(r.vals))
	}
	for i, d := range dest {
		if err := scanValue(d, r.vals[i]); err != nil {
			return fmt.Errorf("sqlstore: column %d: %w", i, err)
		}
	}
	return nil
}

func scanValue(dest, v any) error {
	switch d := dest.(type) {
	case *string:
		if s, ok := v.(string); ok {
			*d = s
			return nil
		}
		return scanVia(d, v, &sql.NullString{}, func(n *sql.NullString) string { return n.String })
	case **string:
		return scanPtr(d, v)
	case *int64:
		if n, ok := v.(int64); ok {
			*d = n
			return nil
		}
		return scanVia(d, v, &sql.NullInt64{}, func(n *sql.NullInt64) int64 { return n.Int64 })
	case **int64:
		return scanPtr(d, v)
	case *float64:
		return scanVia(d, v, &sql.NullFloat64{}, func(n *sql.NullFloat64) float64 { return n.Float64 })
	case *bool:
		return scanVia(d, v, &sql.NullBool{}, func(n *sql.NullBool) bool { return n.Bool })
	case *time.Time:
		return scanVia(d, v, &sql.NullTime{}, func(n *sql.NullTime) time.Time { return n.Time })
	case *any:
		if b, ok := v.([]byte); ok {
			v = append([]byte(nil), b...) // database/sql copies bytes
		}
		*d = v
		return nil
	case *[]byte:
		switch x := v.(type) {
		case nil:
			*d = nil
		case []byte:
			*d = append([]byte(nil), x...)
		case string:
			*d = []byte(x)
		default:
			return scanVia(d, v, &sql.Null[[]byte]{}, func(n *sql.Null[[]byte]) []byte { return n.V })
		}
		return nil
	case sql.Scanner:
		return d.Scan(v)
	}
	return scanReflect(dest, v)
}

// scanPtr sets *d to nil for NULL, else to a new value set from v by
// scanValue (the nullable columns, without scanReflect's reflection).
func scanPtr[T any](d **T, v any) error {
	if v == nil {
		*d = nil
		return nil
	}
	x := new(T)
	if err := scanValue(x, v); err != nil {
		return err
	}
	*d = x
	return nil
}

// scanReflect sets dest, a pointer to a kind of integer, float, string or
// pointer that scanValue does not name, as database/sql does: through
// int64, float64 or string with a check that the value fits.
func scanReflect(dest, v any) error {
	rv := reflect.ValueOf(dest)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("destination not a pointer: %T", dest)
	}
	e := rv.Elem()
	// As database/sql: a value assignable to the destination (a []byte into
	// a json.RawMessage, copied) or of its kind and convertible to it (a
	// string into a named string type) is set as it is.
	if v != nil {
		sv := reflect.ValueOf(v)
		if sv.Type().AssignableTo(e.Type()) {
			if b, ok := v.([]byte); ok {
				sv = reflect.ValueOf(append([]byte(nil), b...))
			}
			e.Set(sv)
			return nil
		}
		if e.Kind() == sv.Kind() && sv.Type().ConvertibleTo(e.Type()) {
			e.Set(sv.Convert(e.Type()))
			return nil
		}
	}
	switch e.Kind() {
	case reflect.Pointer:
		if v == nil {
			e.SetZero()
			return nil
		}
		p := reflect.New(e.Type().Elem())
		if err := scanValue(p.Interface(), v); err != nil {
			return err
		}
		e.Set(p)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		if err := scanValue(&n, v); err != nil {
			return err
		}
		if e.OverflowInt(n) {
			return fmt.Errorf("converting %d to a %s: value out of range", n, e.Kind())
		}
		e.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var s string
		if err := scanValue(&s, v); err != nil {
			return err
		}
		n, err := strconv.ParseUint(s, 10, e.Type().Bits())
		if err != nil {
			return fmt.Errorf("converting %q to a %s: %w", s, e.Kind(), err)
		}
		e.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		var s string
		if err := scanValue(&s, v); err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, e.Type().Bits())
		if err != nil {
			return fmt.Errorf("converting %q to a %s: %w", s, e.Kind(), err)
		}
		e.SetFloat(f)
		return nil
	case reflect.String:
		// Only text and blobs, as database/sql.
		switch x := v.(type) {
		case string:
			e.SetString(x)
			return nil
		case []byte:
			e.SetString(string(x))
			return nil
		}
	}
	return fmt.Errorf("unsupported destination %T", dest)
}

// scanVia sets *d from v through n's Scan (database/sql's conversion);
// NULL into a value that cannot hold it is an error, as in database/sql.
func scanVia[T any, N sql.Scanner](d *T, v any, n N, get func(N) T) error {
	if v == nil {
		return fmt.Errorf("converting NULL to %T is unsupported", *d)
	}
	if err := n.Scan(v); err != nil {
		return err
	}
	*d = get(n)
	return nil
}
