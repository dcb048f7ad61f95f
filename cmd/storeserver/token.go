package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/internal/cmdline"
)

// tokenBytes is how many random bytes a minted token holds (256 bits).
const tokenBytes = 32

const tokenUsage = "usage: storeserver token --pkr PKR [--scope SCOPE=PERM]... [--profile NAME] [--add FILE] [--json]; storeserver token -h for help"

// scopeFlags collects repeated --scope SCOPE=PERM flags.
type scopeFlags map[string]string

func (s scopeFlags) String() string { return fmt.Sprint(map[string]string(s)) }

func (s scopeFlags) Set(v string) error {
	i := strings.LastIndex(v, "=")
	if i <= 0 || i == len(v)-1 {
		return fmt.Errorf("want SCOPE=PERM, as in storage://namespace/users=rw")
	}
	s[v[:i]] = v[i+1:]
	return nil
}

// runToken is "storeserver token": it mints a random bearer token and
// prints the auth file entry that grants it, holding only the token's
// SHA-256; with --add it appends the entry to an auth file instead (a
// running server loads it on SIGHUP).
func runToken(args []string, stdout, stderr io.Writer) int {
	var (
		pkr, profile, add string
		asJSON            bool
		scopes            = scopeFlags{}
	)
	fset := flag.NewFlagSet("storeserver token", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.StringVar(&pkr, "pkr", "", "the principal's public key (`PKR`) the token stands for (required)")
	fset.Var(scopes, "scope", "grant `SCOPE=PERM` (r, w or rw), as in storage://namespace/users=rw; repeatable")
	fset.StringVar(&profile, "profile", "", "the profile's `NAME` in the auth file (default: token-PKR)")
	fset.StringVar(&add, "add", "", "append the entry to the auth `FILE` (created, mode 0600, when missing) and print only the token")
	fset.BoolVar(&asJSON, "json", false, `print {"token": …, "principal": ENTRY} on stdout`)
	fset.Usage = func() {}
	help := func() {
		fmt.Fprint(stderr, `Usage: storeserver token --pkr PKR [--scope SCOPE=PERM]... [flags]

Mints a random bearer token (256 bits, base64url) for a principal and
prints the auth file entry that grants it. The entry holds only the token's
SHA-256 (tokenSHA256), so the auth file never holds the secret: the token
is printed once, to stderr (stdout with --add or --json); give it to the
client. Put the entry in the auth file's "principals" array, or use --add,
then send the running server SIGHUP to load it without a restart.

  $ storeserver token --pkr alice-pk --scope storage://namespace/users=rw
  token: 3q2-…                                  (stderr)
  {"tokenSHA256":"9f86…","pkr":"alice-pk","profiles":[{"name":"token-alice-pk","scopes":{"storage://namespace/users":"rw"}}]}

Flags:
`)
		fset.PrintDefaults()
	}
	rest, err := cmdline.Parse(fset, args)
	if err != nil {
		return cmdline.ParseFailed(err, fset, help, tokenUsage)
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "storeserver token: "+format+"\n", a...)
		if code == exitUsage {
			fmt.Fprintln(stderr, tokenUsage)
		}
		return code
	}
	switch {
	case len(rest) > 0:
		return fail(exitUsage, "unexpected argument %q", rest[0])
	case pkr == "":
		return fail(exitUsage, "--pkr is required")
	case add != "" && asJSON:
		return fail(exitUsage, "--add and --json exclude each other")
	}
	if profile == "" {
		profile = "token-" + pkr
	}
	token, err := newToken()
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	entry := httpapi.PrincipalEntry{TokenSHA256: httpapi.HashToken(token), PKR: pkr,
		Profiles: []httpapi.ProfileEntry{{Name: profile, Scopes: scopes}}}
	// The auth file's own rules judge the entry (PKR, scopes, permissions).
	if _, err := httpapi.ParseAuthFile(mustJSON(httpapi.AuthFile{Principals: []httpapi.PrincipalEntry{entry}})); err != nil {
		return fail(exitUsage, "%v", err)
	}
	switch {
	case add != "":
		if err := appendPrincipal(add, entry); err != nil {
			return fail(exitFailure, "%v", err)
		}
		fmt.Fprintln(stdout, token)
		fmt.Fprintf(stderr, "added principal %q to %s; send the server SIGHUP to load it\n", pkr, add)
	case asJSON:
		fmt.Fprintf(stdout, "%s\n", mustJSON(struct {
			Token     string                 `json:"token"`
			Principal httpapi.PrincipalEntry `json:"principal"`
		}{token, entry}))
	default:
		fmt.Fprintf(stderr, "token: %s\n", token)
		fmt.Fprintf(stdout, "%s\n", mustJSON(entry))
	}
	return exitOK
}

// newToken returns tokenBytes random bytes in base64url, without padding.
func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and maps always marshal
	}
	return b
}

// appendPrincipal adds entry to the auth file at path (a new file when it
// is missing) and writes it back through a temporary file and a rename,
// mode 0600, after checking that the whole file still parses.
func appendPrincipal(path string, entry httpapi.PrincipalEntry) error {
	var f httpapi.AuthFile
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return fmt.Errorf("auth file %s: invalid JSON: %w", path, err)
		}
	}
	f.Principals = append(f.Principals, entry)
	out, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if _, err := httpapi.ParseAuthFile(out); err != nil {
		return fmt.Errorf("auth file %s with the new entry: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
