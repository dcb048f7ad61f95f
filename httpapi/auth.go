package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mycelia-kernel/storage/security"
)

// MinTokenLen is the shortest plaintext token an auth file may hold.
const MinTokenLen = 16

// AuthFile is the JSON form of an auth file: the principals the server
// knows, each with its bearer token and the profiles applied to it.
//
//	{"principals": [
//	  {"tokenSHA256": "9f86d0…", "pkr": "alice-pk",
//	   "profiles": [{"name": "users-rw", "scopes": {"storage://namespace/users": "rw"}}]},
//	  {"token": "a-long-random-secret", "pkr": "admin-pk",
//	   "profiles": [{"name": "admin", "scopes": {"storage://namespace/*": "rw", "principal://*": "rw"}}]}
//	]}
type AuthFile struct {
	Principals []PrincipalEntry `json:"principals"`
}

// PrincipalEntry is one principal of an auth file. Exactly one of Token
// and TokenSHA256 is set. The same PKR may appear in several entries (one
// per token); its grants are then the union of their profiles.
type PrincipalEntry struct {
	// Token is the bearer token in plain text, at least MinTokenLen bytes.
	Token string `json:"token,omitempty"`
	// TokenSHA256 is the hex SHA-256 of the bearer token (64 hex digits),
	// so the file need not hold the secret: sha256sum of the token without
	// a trailing newline (printf %s "$TOKEN" | sha256sum).
	TokenSHA256 string `json:"tokenSHA256,omitempty"`
	// PKR is the principal's public key (security.PKR.PublicKey).
	PKR string `json:"pkr"`
	// Attributes are optional descriptive attributes of the PKR.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Profiles are applied to the principal (security.Policy.Apply).
	Profiles []ProfileEntry `json:"profiles"`
}

// ProfileEntry is a security.Profile: scopes mapped to "r", "w" or "rw".
type ProfileEntry struct {
	Name   string            `json:"name"`
	Scopes map[string]string `json:"scopes"`
}

// Authenticator maps a bearer token to the principal it belongs to.
type Authenticator interface {
	// Authenticate returns the principal of token, or false when the token
	// is unknown.
	Authenticate(token string) (security.PKR, bool)
}

// Tokens is an Authenticator built from an auth file. It keeps only the
// SHA-256 of each token and compares a presented token's hash with every
// known hash in constant time, so neither the secrets nor the timing of a
// lookup reveal anything. A Tokens is immutable and safe for concurrent
// use.
type Tokens struct {
	entries []tokenEntry
	policy  *security.Policy
}

type tokenEntry struct {
	hash [sha256.Size]byte
	pkr  security.PKR
}

var _ Authenticator = (*Tokens)(nil)

// LoadAuthFile reads and parses the auth file at path (see ParseAuthFile).
func LoadAuthFile(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("httpapi: auth file: %w", err)
	}
	t, err := ParseAuthFile(data)
	if err != nil {
		return nil, fmt.Errorf("httpapi: auth file %s: %w", path, err)
	}
	return t, nil
}

// ParseAuthFile parses an auth file (AuthFile's JSON form) and builds the
// tokens and the policy its profiles grant. It is strict: unknown fields,
// a principal with no or two tokens, a token shorter than MinTokenLen, a
// malformed hash, a token used twice, an invalid PKR, scope or permission
// are all errors, and nothing is returned.
func ParseAuthFile(data []byte) (*Tokens, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f AuthFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the top-level object")
	}
	if len(f.Principals) == 0 {
		return nil, errors.New("no principals")
	}
	t := &Tokens{policy: security.NewPolicy()}
	seen := make(map[[sha256.Size]byte]int, len(f.Principals))
	for i, p := range f.Principals {
		where := fmt.Sprintf("principals[%d] (pkr %q)", i, p.PKR)
		pkr, err := security.NewPKR(p.PKR, p.Attributes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		var h [sha256.Size]byte
		switch {
		case p.Token != "" && p.TokenSHA256 != "":
			return nil, fmt.Errorf("%s: give token or tokenSHA256, not both", where)
		case p.Token != "":
			if len(p.Token) < MinTokenLen {
				return nil, fmt.Errorf("%s: token is %d bytes, want at least %d", where, len(p.Token), MinTokenLen)
			}
			h = sha256.Sum256([]byte(p.Token))
		case p.TokenSHA256 != "":
			b, err := hex.DecodeString(p.TokenSHA256)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("%s: tokenSHA256 must be %d hex digits", where, 2*sha256.Size)
			}
			copy(h[:], b)
		default:
			return nil, fmt.Errorf("%s: no token or tokenSHA256", where)
		}
		if j, dup := seen[h]; dup {
			return nil, fmt.Errorf("%s: same token as principals[%d]", where, j)
		}
		seen[h] = i
		for _, prof := range p.Profiles {
			if err := t.policy.Apply(pkr, security.Profile{Name: prof.Name, Scopes: prof.Scopes}); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		t.entries = append(t.entries, tokenEntry{hash: h, pkr: pkr})
	}
	return t, nil
}

// Policy returns the policy the file's profiles grant, for
// security.NewStore.
func (t *Tokens) Policy() *security.Policy { return t.policy }

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// Authenticate implements Authenticator. It hashes token and compares the
// hash with every known one in constant time, whatever matches.
func (t *Tokens) Authenticate(token string) (security.PKR, bool) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(h[:], t.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 || token == "" {
		return security.PKR{}, false
	}
	return t.entries[found].pkr, true
}

// HashToken returns the hex SHA-256 of token, the form of an auth file's
// tokenSHA256.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// bearerToken returns the token of an "Authorization: Bearer TOKEN" header
// (the scheme in any letter case), and whether the header has that form.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
