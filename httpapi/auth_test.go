package httpapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	aliceToken = "alice-secret-token-0123456789"
	adminToken = "admin-secret-token-0123456789"
)

func TestParseAuthFile(t *testing.T) {
	good := `{"principals":[
		{"token":"` + aliceToken + `","pkr":"alice-pk","profiles":[{"name":"users","scopes":{"storage://namespace/users":"rw"}}]},
		{"tokenSHA256":"` + HashToken(adminToken) + `","pkr":"admin-pk","attributes":{"name":"Admin"},
		 "profiles":[{"name":"all","scopes":{"storage://namespace/*":"rw","principal://*":"rw"}}]},
		{"token":"alice-second-token-0123456789","pkr":"alice-pk","profiles":[{"name":"logs","scopes":{"storage://namespace/logs":"r"}}]}
	]}`
	tok, err := ParseAuthFile([]byte(good))
	if err != nil {
		t.Fatalf("ParseAuthFile: %v", err)
	}
	if tok.Len() != 3 {
		t.Errorf("Len = %d, want 3", tok.Len())
	}
	for _, tc := range []struct {
		token, pkr string
	}{
		{aliceToken, "alice-pk"},
		{adminToken, "admin-pk"},
		{"alice-second-token-0123456789", "alice-pk"},
		{"", ""},
		{"wrong", ""},
		{HashToken(adminToken), ""}, // the hash is not the token
		{aliceToken + "x", ""},
		{strings.ToUpper(aliceToken), ""},
	} {
		p, ok := tok.Authenticate(tc.token)
		if ok != (tc.pkr != "") || p.PublicKey != tc.pkr {
			t.Errorf("Authenticate(%q) = %q, %v; want %q", tc.token, p.PublicKey, ok, tc.pkr)
		}
	}
	alice, _ := tok.Authenticate(aliceToken)
	got := strings.Join(tok.Policy().Grants(alice), "; ")
	if want := "storage://namespace/logs: r; storage://namespace/users: rw"; got != want {
		t.Errorf("alice's grants = %q, want %q (the union of both entries)", got, want)
	}
	if admin, _ := tok.Authenticate(adminToken); admin.Attributes["name"] != "Admin" {
		t.Errorf("admin attributes = %v", admin.Attributes)
	}

	for _, tc := range []struct {
		name, file, want string
	}{
		{"notJSON", `{`, "invalid JSON"},
		{"trailing", `{"principals":[{"token":"` + aliceToken + `","pkr":"a"}]} {}`, "after the top-level object"},
		{"unknownField", `{"principals":[{"token":"` + aliceToken + `","pkr":"a","admin":true}]}`, "unknown field"},
		{"noPrincipals", `{"principals":[]}`, "no principals"},
		{"noToken", `{"principals":[{"pkr":"a"}]}`, "no token or tokenSHA256"},
		{"bothTokens", `{"principals":[{"token":"` + aliceToken + `","tokenSHA256":"` + HashToken("x") + `","pkr":"a"}]}`, "not both"},
		{"shortToken", `{"principals":[{"token":"short","pkr":"a"}]}`, "at least 16"},
		{"badHash", `{"principals":[{"tokenSHA256":"abc","pkr":"a"}]}`, "64 hex digits"},
		{"notHex", `{"principals":[{"tokenSHA256":"` + strings.Repeat("z", 64) + `","pkr":"a"}]}`, "64 hex digits"},
		{"dupToken", `{"principals":[{"token":"` + aliceToken + `","pkr":"a"},{"tokenSHA256":"` + HashToken(aliceToken) + `","pkr":"b"}]}`, "same token as principals[0]"},
		{"badPKR", `{"principals":[{"token":"` + aliceToken + `","pkr":"a/b"}]}`, "invalid public key"},
		{"emptyPKR", `{"principals":[{"token":"` + aliceToken + `","pkr":""}]}`, "invalid public key"},
		{"badScope", `{"principals":[{"token":"` + aliceToken + `","pkr":"a","profiles":[{"name":"p","scopes":{"users":"rw"}}]}]}`, "invalid scope"},
		{"badPerm", `{"principals":[{"token":"` + aliceToken + `","pkr":"a","profiles":[{"name":"p","scopes":{"storage://namespace/users":"x"}}]}]}`, "invalid permission"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ParseAuthFile([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseAuthFile = %v, %v; want an error containing %q", tok, err, tc.want)
			}
		})
	}
}

func TestLoadAuthFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.json")
	if err := os.WriteFile(path, []byte(`{"principals":[{"token":"`+aliceToken+`","pkr":"alice-pk"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadAuthFile(path)
	if err != nil {
		t.Fatalf("LoadAuthFile: %v", err)
	}
	if p, ok := tok.Authenticate(aliceToken); !ok || p.PublicKey != "alice-pk" {
		t.Errorf("Authenticate = %v, %v", p, ok)
	}
	if _, err := LoadAuthFile(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("LoadAuthFile(missing) = %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAuthFile(bad); err == nil || !strings.Contains(err.Error(), "bad.json: no principals") {
		t.Errorf("LoadAuthFile(bad) = %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Basic abc", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"abc", "", false},
	} {
		tok, ok := bearerToken(tc.header)
		if tok != tc.token || ok != tc.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tc.header, tok, ok, tc.token, tc.ok)
		}
	}
}
