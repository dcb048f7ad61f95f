package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/security"
)

func TestTokenCommand(t *testing.T) {
	tok := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runToken(args, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	// The default: the entry on stdout, the token on stderr; the entry is
	// a valid auth file principal for that token.
	code, out, errOut := tok("--pkr", "alice-pk", "--scope", "storage://namespace/users=rw", "--scope", "storage://transactions=r")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	token, ok := strings.CutPrefix(strings.TrimSpace(errOut), "token: ")
	if !ok || len(token) != 43 {
		t.Fatalf("stderr %q", errOut)
	}
	parsed, err := httpapi.ParseAuthFile([]byte(`{"principals":[` + strings.TrimSpace(out) + `]}`))
	if err != nil {
		t.Fatalf("the printed entry %s: %v", out, err)
	}
	if p, ok := parsed.Authenticate(token); !ok || p.PublicKey != "alice-pk" {
		t.Errorf("the entry does not authenticate the token")
	}
	if strings.Contains(out, token) {
		t.Errorf("stdout holds the token: %s", out)
	}
	grants := parsed.Policy().Grants(mustPKR(t, "alice-pk"))
	if strings.Join(grants, ";") != "storage://namespace/users: rw;storage://transactions: r" {
		t.Errorf("grants %v", grants)
	}

	// --json: both on stdout.
	code, out, _ = tok("--json", "--pkr", "bob-pk")
	var j struct {
		Token     string
		Principal httpapi.PrincipalEntry
	}
	if code != exitOK || json.Unmarshal([]byte(out), &j) != nil || j.Principal.TokenSHA256 != httpapi.HashToken(j.Token) {
		t.Errorf("--json: %d %s", code, out)
	}
	// Two tokens are never the same.
	_, out2, _ := tok("--json", "--pkr", "bob-pk")
	if out2 == out {
		t.Error("two runs minted the same token")
	}

	for _, args := range [][]string{
		{},
		{"--scope", "storage://namespace/x=rw"},
		{"--pkr", "a", "--scope", "storage://namespace/x"},
		{"--pkr", "a", "--scope", "storage://namespace/x=all"},
		{"--pkr", "a", "--scope", "bogus://x=rw"},
		{"--pkr", "a", "--json", "--add", "f"},
		{"--pkr", "a", "extra"},
		{"--nope"},
	} {
		if code, _, errOut := tok(args...); code != exitUsage || !strings.Contains(errOut, "usage: storeserver token") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errOut)
		}
	}
	if code, _, errOut := tok("-h"); code != exitOK || !strings.Contains(errOut, "tokenSHA256") {
		t.Errorf("-h: %d %q", code, errOut)
	}

	// --add: to a new file, then to it again; a malformed file is left alone.
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.json")
	var tokens []string
	for _, pkr := range []string{"a-pk", "b-pk"} {
		code, out, errOut := tok("--pkr", pkr, "--scope", "storage://namespace/"+pkr+"=r", "--add", path)
		if code != exitOK {
			t.Fatalf("--add: %d %s", code, errOut)
		}
		tokens = append(tokens, strings.TrimSpace(out))
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("auth file: %v %v", err, fi.Mode())
	}
	all, err := httpapi.LoadAuthFile(path)
	if err != nil || all.Len() != 2 {
		t.Fatalf("the file after two adds: %v", err)
	}
	for i, pkr := range []string{"a-pk", "b-pk"} {
		if p, ok := all.Authenticate(tokens[i]); !ok || p.PublicKey != pkr {
			t.Errorf("token %d does not authenticate %s", i, pkr)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"principals":[{"pkr":1}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := tok("--pkr", "c-pk", "--add", bad); code != exitFailure || !strings.Contains(errOut, "bad.json") {
		t.Errorf("--add to a malformed file: %d %q", code, errOut)
	}
	if b, _ := os.ReadFile(bad); string(b) != `{"principals":[{"pkr":1}]}` {
		t.Errorf("the malformed file changed: %s", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func mustPKR(t *testing.T, pk string) security.PKR {
	t.Helper()
	p, err := security.NewPKR(pk, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
