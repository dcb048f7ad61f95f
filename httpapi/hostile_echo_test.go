package httpapi_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/httpapi"
	"github.com/mycelia-kernel/storage/routes"
)

// TestHostileEchoedInput: an answer refusing a caller's input sends at
// most a clip of it back, never the input whole, let alone several copies
// of it quoted. An invalid key, namespace or isolation level of megabytes
// was quoted whole into the message (with %q: a 3-byte U+200B became the
// 7 bytes `\\u200b` on the wire) and again in the error's key or
// namespace member: a 256 KiB key was an 874 KB answer, an 8 MiB key a
// 28 MB answer with 420 MB allocated for it (server and client in one
// process), outside every bound on the bodies in flight, so a few
// such requests of one principal could exhaust the server's memory and
// every other principal's requests with it. The refusal stays typed (its
// wire code and the storage sentinel behind it), and another principal's
// requests are served meanwhile.
func TestHostileEchoedInput(t *testing.T) {
	big := strings.Repeat("\u200b", 256<<10/3) // 256 KiB, 875 KiB once quoted
	cases := []struct {
		op, body string
		code     string
		sentinel error
		// echo: the copies of the input the answer must hold (getMany
		// answers an error under each key requested, deleteMany a result
		// under each key and the keys in order).
		echo int
		// as is the caller, alice unless set.
		as string
	}{
		{"get", `{"key":"` + big + `","options":{"namespace":"shared"}}`, routes.CodeInvalidKey, storage.ErrInvalidKey, 0, ""},
		{"set", `{"key":"` + big + `","value":1,"options":{"namespace":"shared"}}`, routes.CodeInvalidKey, storage.ErrInvalidKey, 0, ""},
		// Refused by the security layer before the engine saw it.
		{"has", `{"key":"principal://` + big + `/data/x","options":{"namespace":"shared"}}`, routes.CodePermissionDenied, storage.ErrPermissionDenied, 0, ""},
		// The admin's reaches the engine, which names it in its reason.
		{"has", `{"key":"principal://` + big + `/data/x","options":{"namespace":"shared"}}`, routes.CodeInvalidKey, storage.ErrInvalidKey, 0, hAdmin},
		{"get", `{"key":"k","options":{"namespace":"` + big + `"}}`, routes.CodeInvalidNamespace, storage.ErrInvalidNamespace, 0, ""},
		{"get", `{"key":"k","options":{"namespace":"principal://` + big + `"}}`, routes.CodeInvalidNamespace, storage.ErrInvalidNamespace, 0, ""},
		{"createNamespace", `{"name":"` + big + `"}`, routes.CodeInvalidNamespace, storage.ErrInvalidNamespace, 0, ""},
		{"beginTransaction", `{"options":{"isolation":"` + big + `"}}`, routes.CodeInvalidOption, storage.ErrInvalidOption, 0, ""},
		{"getMany", `{"keys":["` + big + `"],"options":{"namespace":"shared"}}`, routes.CodeInvalidKey, storage.ErrInvalidKey, 1, ""},
		{"deleteMany", `{"keys":["` + big + `"],"options":{"namespace":"shared"}}`, routes.CodeInvalidKey, storage.ErrInvalidKey, 2, ""},
	}
	for _, c := range hostileConfigs {
		t.Run(c.Name, func(t *testing.T) {
			s := newHostileServer(t, c.DSN(t), httpapi.Config{})
			s.must(t, "set", hBob, `{"key":"v","value":{"n":1},"options":{"namespace":"shared"}}`)
			// The victim reads while the hostile principal sends.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					st, env := s.call(t, "get", hBob, `{"key":"v","options":{"namespace":"shared"}}`)
					if st != 200 || !env.Success || time.Since(start) > 10*time.Second {
						t.Errorf("the victim's get = %d %+v after %v", st, env.Error, time.Since(start))
						return
					}
				}
			}()
			for _, cs := range cases {
				as := cs.as
				if as == "" {
					as = hAlice
				}
				st, raw := s.raw(t, cs.op, as, cs.body)
				// The copies the route must hold, and a message of
				// kilobytes.
				limit := 16<<10 + cs.echo*len(big)
				if len(raw) > limit {
					t.Errorf("%s with a %d-byte input: a %d-byte answer (at most %d): %.300s", cs.op, len(big), len(raw), limit, raw)
				}
				body := errorBody(t, raw)
				if body == nil || body.Code != cs.code {
					t.Errorf("%s: %d %.300s; want the code %s", cs.op, st, raw, cs.code)
					continue
				}
				if err := routes.ErrorFromBody(body); !errors.Is(err, cs.sentinel) {
					t.Errorf("%s: %v does not unwrap to %v", cs.op, err, cs.sentinel)
				}
				if want := routes.HTTPStatus(cs.code); cs.echo == 0 && st != want {
					t.Errorf("%s: status %d, want %d", cs.op, st, want)
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}

// errorBody is the error of a raw answer: the envelope's, or the first
// of a getMany's errors or of a batch's results.
func errorBody(t *testing.T, raw []byte) *routes.ErrorBody {
	t.Helper()
	var a struct {
		Error   *routes.ErrorBody            `json:"error"`
		Errors  map[string]*routes.ErrorBody `json:"errors"`
		Results map[string]struct {
			Error *routes.ErrorBody `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%.300s: %v", raw, err)
	}
	if a.Error != nil {
		return a.Error
	}
	for _, e := range a.Errors {
		return e
	}
	for _, r := range a.Results {
		return r.Error
	}
	return nil
}
