package schema

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Dialects lists the supported dialects, in the order the tools report them.
var Dialects = []Dialect{SQLite, Postgres}

// EmbeddedFS returns d's embedded migrations (files NNNNN_name.sql at the
// root of the returned FS).
func EmbeddedFS(d Dialect) (fs.FS, error) {
	_, fsys, err := d.source()
	return fsys, err
}

var fileRE = regexp.MustCompile(`^([0-9]+)_([A-Za-z0-9_]+)\.sql$`)

// MigrationFile is one migration file of a dialect.
type MigrationFile struct {
	Version int64
	Name    string // the part after the number, without .sql
	File    string // base name
}

// ListFiles lists the NNNNN_name.sql files at the root of fsys, in version
// order. Other files are ignored; a .sql file whose name does not have that
// shape, or two files with one version, is an error.
func ListFiles(fsys fs.FS) ([]MigrationFile, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("schema: list migrations: %w", err)
	}
	var out []MigrationFile
	seen := map[int64]string{}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("schema: migration file %q: want NNNNN_name.sql (letters, digits, _)", e.Name())
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("schema: migration file %q: version must be a positive number", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("schema: migration files %q and %q have the same version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		out = append(out, MigrationFile{Version: v, Name: m[2], File: e.Name()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// ValidateFiles checks the migration files of every dialect without a
// database: names and versions (ListFiles); each file has one "-- +goose Up"
// before one "-- +goose Down" (a released migration must be reversible for
// down, redo and reset), balanced StatementBegin/StatementEnd, and no
// statement left without its closing semicolon; and every dialect has the
// same versions with the same names. It returns every problem found, joined.
func ValidateFiles(fsyss map[Dialect]fs.FS) error {
	var errs []error
	lists := map[Dialect][]MigrationFile{}
	var ds []Dialect
	for d := range fsyss {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for _, d := range ds {
		files, err := ListFiles(fsyss[d])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d, err))
			continue
		}
		if len(files) == 0 {
			errs = append(errs, fmt.Errorf("schema: %s: no migrations", d))
		}
		lists[d] = files
		for _, f := range files {
			b, err := fs.ReadFile(fsyss[d], f.File)
			if err != nil {
				errs = append(errs, fmt.Errorf("schema: %s/%s: %w", d, f.File, err))
				continue
			}
			for _, e := range checkAnnotations(string(b)) {
				errs = append(errs, fmt.Errorf("schema: %s/%s: %s", d, f.File, e))
			}
		}
	}
	// Every dialect must have the same migrations.
	for i := 1; i < len(ds); i++ {
		a, b := ds[0], ds[i]
		la, okA := lists[a]
		lb, okB := lists[b]
		if !okA || !okB {
			continue
		}
		ka, kb := keys(la), keys(lb)
		for k := range ka {
			if !kb[k] {
				errs = append(errs, fmt.Errorf("schema: %s has %s, %s does not", a, k, b))
			}
		}
		for k := range kb {
			if !ka[k] {
				errs = append(errs, fmt.Errorf("schema: %s has %s, %s does not", b, k, a))
			}
		}
	}
	return errors.Join(errs...)
}

func keys(fs []MigrationFile) map[string]bool {
	m := map[string]bool{}
	for _, f := range fs {
		m[f.File] = true
	}
	return m
}

// checkAnnotations follows goose's SQL parser rules closely enough to catch
// the usual mistakes before a database sees them.
func checkAnnotations(src string) []string {
	var probs []string
	up, down, inBlock := 0, 0, false
	blockLine := 0
	pending := "" // text of an unterminated statement outside blocks
	pendingLine := 0
	flush := func() {
		if strings.TrimSpace(pending) != "" {
			probs = append(probs, fmt.Sprintf("line %d: statement does not end with ';'", pendingLine))
		}
		pending = ""
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "-- +goose") {
			ann := strings.Fields(strings.TrimPrefix(t, "-- +goose"))
			if len(ann) == 0 {
				probs = append(probs, fmt.Sprintf("line %d: empty goose annotation", n))
				continue
			}
			switch strings.ToLower(ann[0]) {
			case "up":
				flush()
				up++
				if down > 0 {
					probs = append(probs, fmt.Sprintf("line %d: +goose Up after +goose Down", n))
				}
			case "down":
				flush()
				down++
				if inBlock {
					probs = append(probs, fmt.Sprintf("line %d: +goose Down inside StatementBegin (line %d)", n, blockLine))
				}
			case "statementbegin":
				if inBlock {
					probs = append(probs, fmt.Sprintf("line %d: StatementBegin inside StatementBegin (line %d)", n, blockLine))
				}
				flush()
				inBlock, blockLine = true, n
			case "statementend":
				if !inBlock {
					probs = append(probs, fmt.Sprintf("line %d: StatementEnd without StatementBegin", n))
				}
				inBlock = false
			}
			continue
		}
		if inBlock || t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		if up == 0 && down == 0 {
			probs = append(probs, fmt.Sprintf("line %d: SQL before +goose Up", n))
			continue
		}
		if pending == "" {
			pendingLine = n
		}
		pending += line + "\n"
		if strings.HasSuffix(stripLineComment(t), ";") {
			pending = ""
		}
	}
	flush()
	if inBlock {
		probs = append(probs, fmt.Sprintf("line %d: StatementBegin without StatementEnd", blockLine))
	}
	if up != 1 {
		probs = append(probs, fmt.Sprintf("want one +goose Up annotation, found %d", up))
	}
	if down != 1 {
		probs = append(probs, fmt.Sprintf("want one +goose Down annotation, found %d", down))
	}
	return probs
}

// stripLineComment removes a trailing "-- ..." comment that is not inside a
// string literal (a rough check, enough for goose's own rule).
func stripLineComment(t string) string {
	inQuote := false
	for i := 0; i < len(t); i++ {
		switch {
		case t[i] == '\'':
			inQuote = !inQuote
		case !inQuote && strings.HasPrefix(t[i:], "--"):
			return strings.TrimSpace(t[:i])
		}
	}
	return t
}

var nameRE = regexp.MustCompile(`[^a-z0-9]+`)

// Create writes the next numbered migration, NNNNN_name.sql, for every
// dialect: into dir/sqlite and dir/postgres (created if missing). The number
// is one more than the highest version in either directory, five digits
// wide. name is lowercased and every run of other characters than letters
// and digits becomes "_". It returns the paths written; it never overwrites
// a file.
func Create(dir, name string) ([]string, error) {
	slug := strings.Trim(nameRE.ReplaceAllString(strings.ToLower(name), "_"), "_")
	if slug == "" {
		return nil, fmt.Errorf("schema: create: name %q has no letters or digits", name)
	}
	var next int64 = 1
	for _, d := range Dialects {
		sub := filepath.Join(dir, string(d))
		files, err := ListFiles(os.DirFS(sub))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		if n := len(files); n > 0 && files[n-1].Version >= next {
			next = files[n-1].Version + 1
		}
	}
	file := fmt.Sprintf("%05d_%s.sql", next, slug)
	var written []string
	for _, d := range Dialects {
		sub := filepath.Join(dir, string(d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return written, fmt.Errorf("schema: create: %w", err)
		}
		p := filepath.Join(sub, file)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return written, fmt.Errorf("schema: create: %w", err)
		}
		_, werr := fmt.Fprintf(f, template, name, d)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return written, fmt.Errorf("schema: create %s: %w", p, werr)
		}
		written = append(written, p)
	}
	return written, nil
}

const template = `-- %s (%s).
-- A released migration is never edited: change the schema with a new one.

-- +goose Up

-- +goose Down
`

// embeddedFiles is ValidateFiles' input for the embedded migrations.
func embeddedFiles() (map[Dialect]fs.FS, error) {
	m := map[Dialect]fs.FS{}
	for _, d := range Dialects {
		f, err := EmbeddedFS(d)
		if err != nil {
			return nil, err
		}
		m[d] = f
	}
	return m, nil
}

// ValidateEmbedded runs ValidateFiles on the embedded migrations.
func ValidateEmbedded() error {
	m, err := embeddedFiles()
	if err != nil {
		return err
	}
	return ValidateFiles(m)
}
