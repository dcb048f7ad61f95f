package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage/internal/testutil/logbuf"
)

// eventsOf decodes the "events" of a watch or history --json answer, and
// checks that it succeeded.
func eventsOf(t *testing.T, r result) (events []map[string]any, answer map[string]any) {
	t.Helper()
	m := r.decode(t)
	if m["ok"] != true {
		t.Fatalf("answer not ok: %v", m)
	}
	list, _ := m["events"].([]any)
	for _, e := range list {
		events = append(events, e.(map[string]any))
	}
	return events, m
}

func revOf(t *testing.T, ev map[string]any) int64 {
	t.Helper()
	r, ok := ev["revision"].(float64)
	if !ok || r < 1 {
		t.Fatalf("event without a revision: %v", ev)
	}
	return int64(r)
}

// typesOf are the events' "type:namespace:key".
func typesOf(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		k, _ := e["key"].(string)
		out = append(out, fmt.Sprintf("%s:%s:%s", e["type"], e["namespace"], k))
	}
	return out
}

// onTargets runs f on each target, with cli running the command on it.
func onTargets(t *testing.T, f func(t *testing.T, cli func(args ...string) result)) {
	for _, tg := range targets {
		t.Run(tg.Name, func(t *testing.T) {
			env := map[string]string{"STORAGE_DSN": tg.DSN(t)}
			f(t, func(args ...string) result {
				t.Helper()
				return runCLI(t, env, "", args...)
			})
		})
	}
}

func TestWatchHistoryAt(t *testing.T) {
	onTargets(t, func(t *testing.T, cli func(args ...string) result) {
		cli("set", "a", `{"n":1}`).want(t, exitOK)
		cli("set", "a", `{"n":2}`).want(t, exitOK)
		cli("-n", "other", "set", "b c", `"x"`).want(t, exitOK)
		cli("delete", "a").want(t, exitOK)

		// history: the key's three changes, oldest first, in pages.
		hist, m := eventsOf(t, cli("--json", "history", "a"))
		if got, want := strings.Join(typesOf(hist), " "), "put:default:a put:default:a delete:default:a"; got != want || m["key"] != "a" {
			t.Fatalf("history --json: %s (%v), want %s", got, m, want)
		}
		r1, r2, r3 := revOf(t, hist[0]), revOf(t, hist[1]), revOf(t, hist[2])
		if r1 >= r2 || r2 >= r3 || hist[1]["value"].(map[string]any)["n"] != float64(2) {
			t.Fatalf("history --json: %v", hist)
		}
		if h, _ := eventsOf(t, cli("--json", "history", "a", "--limit", "2")); len(h) != 2 || revOf(t, h[1]) != r2 {
			t.Errorf("history --limit 2: %v", h)
		}
		if h, _ := eventsOf(t, cli("--json", "history", "a", "--after", fmt.Sprint(r1))); len(h) != 2 || revOf(t, h[0]) != r2 {
			t.Errorf("history --after %d: %v", r1, h)
		}
		if h, _ := eventsOf(t, cli("--json", "history", "a", "--omit-values")); len(h) != 3 || h[0]["value"] != nil {
			t.Errorf("history --omit-values: %v", h)
		}
		r := cli("history", "a").want(t, exitOK)
		if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "REVISION") ||
			!strings.Contains(lines[3], "delete") || !strings.Contains(r.stderr, "(3 events)") {
			t.Errorf("history: %q %q", r.stdout, r.stderr)
		}
		// A key never written: not found, as get of it (TestHistoryMissingKey).
		cli("--json", "history", "never").want(t, exitNotFound)

		// get --at: the key as it was, gone after its delete.
		m = cli("--json", "get", "a", "--at", fmt.Sprint(r1)).want(t, exitOK).decode(t)
		if m["value"].(map[string]any)["n"] != float64(1) || m["revision"] != float64(r1) {
			t.Errorf("get --at %d: %v", r1, m)
		}
		m = cli("--json", "get", "a", "--at", fmt.Sprint(r3-1)).want(t, exitOK).decode(t)
		if m["value"].(map[string]any)["n"] != float64(2) || m["revision"] != float64(r2) {
			t.Errorf("get --at %d: %v", r3-1, m)
		}
		cli("get", "a", "--at", fmt.Sprint(r3)).want(t, exitNotFound)
		cli("get", "a").want(t, exitNotFound)
		if r := cli("get", "a", "--at", fmt.Sprint(r2)).want(t, exitOK); !strings.Contains(r.stdout, `"n": 2`) {
			t.Errorf("get --at: %s", r.stdout)
		}

		// watch from a revision: every change since, in order, of every
		// namespace or of -n's, a pattern's keys, a filter's puts.
		all, m := eventsOf(t, cli("--json", "watch", "--after", fmt.Sprint(r1-1), "--limit", "4"))
		if got, want := strings.Join(typesOf(all), " "), "put:default:a put:default:a namespace_create:other: put:other:b c"; got != want {
			t.Errorf("watch --after: %s, want %s", got, want)
		}
		if m["after"] != float64(r1-1) || m["last"] != all[len(all)-1]["revision"] {
			t.Errorf("watch --json: after %v, last %v", m["after"], m["last"])
		}
		// (namespace-level events pass a pattern)
		if ev, _ := eventsOf(t, cli("--json", "-n", "other", "watch", "--after", "0", "--limit", "2", "--pattern", "b*")); len(ev) != 2 || ev[0]["type"] != "namespace_create" || ev[1]["key"] != "b c" {
			t.Errorf("watch -n other --pattern: %v", ev)
		}
		if ev, _ := eventsOf(t, cli("--json", "watch", "--after", "0", "--limit", "1", `{"field":"n","operator":"gt","value":1}`)); len(ev) != 1 || revOf(t, ev[0]) != r2 {
			t.Errorf("watch FILTER: %v", ev)
		}
		r = cli("watch", "--after", fmt.Sprint(r1-1), "--limit", "2").want(t, exitOK)
		if want := fmt.Sprintf("%d put default a {\"n\":1}\n%d put default a {\"n\":2}\n", r1, r2); r.stdout != want ||
			!strings.Contains(r.stderr, fmt.Sprintf("(2 events; resume with --after %d)", r2)) {
			t.Errorf("watch: %q %q, want %q", r.stdout, r.stderr, want)
		}

		// Refused: out of range, ahead of the store, flags watch and
		// history do not take.
		cli("watch", "--after", "-1").want(t, exitUsage)
		cli("get", "a", "--at", "0").want(t, exitUsage)
		cli("watch", "--after", "999999").want(t, exitUsage)
		cli("history", "a", "--pattern", "x").want(t, exitUsage)
		cli("watch", "--offset", "1").want(t, exitUsage)
	})
}

// TestWatchLive: a watch started without --after prints what is committed
// after it began (by another process's store), and ends without an error
// when it is interrupted, saying where to resume; its --json answer is
// then one complete object.
func TestWatchLive(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%t", asJSON), func(t *testing.T) {
			env := map[string]string{"STORAGE_DSN": targets[0].DSN(t)}
			runCLI(t, env, "", "set", "before", "1").want(t, exitOK)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errOut logbuf.Buffer
			code := make(chan int, 1)
			args := []string{"watch"}
			if asJSON {
				args = append(args, "--json")
			}
			go func() {
				code <- run(ctx, args, strings.NewReader(""), &out, &errOut, func(k string) string { return env[k] })
			}()
			started := func() bool {
				if asJSON {
					return strings.Contains(out.String(), `"events": [`)
				}
				return strings.Contains(errOut.String(), "watching the changes after revision")
			}
			for deadline := time.Now().Add(30 * time.Second); !started(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the watch did not start: %q %q", out.String(), errOut.String())
				}
			}
			runCLI(t, env, "", "set", "after", `{"x":1}`).want(t, exitOK)
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), `"key": "after"`) && !strings.Contains(out.String(), " after "); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("no event for the write: %q", out.String())
				}
			}
			cancel()
			if c := <-code; c != exitOK {
				t.Fatalf("exit %d after an interrupt\nstdout: %s\nstderr: %s", c, out.String(), errOut.String())
			}
			if asJSON {
				var m map[string]any
				if err := json.Unmarshal([]byte(out.String()), &m); err != nil || m["ok"] != true {
					t.Fatalf("not one complete answer (%v): %s", err, out.String())
				}
				ev := m["events"].([]any)
				if len(ev) != 1 || ev[0].(map[string]any)["key"] != "after" || m["last"] != ev[0].(map[string]any)["revision"] {
					t.Errorf("watch --json: %v", m)
				}
				return
			}
			if strings.Contains(out.String(), "before") || !strings.Contains(errOut.String(), "(1 event; resume with --after ") {
				t.Errorf("watch: %q %q", out.String(), errOut.String())
			}
		})
	}
}

// TestNsListShowsIndexes: ns list shows each namespace's declared indexes
// (--json had them; the table did not).
func TestNsListShowsIndexes(t *testing.T) {
	env := map[string]string{"STORAGE_DSN": targets[0].DSN(t)}
	runCLI(t, env, "", "-n", "users", "set", "u", `{"age":1,"name":"a"}`).want(t, exitOK)
	runCLI(t, env, "", "index", "create", "users", "age").want(t, exitOK)
	runCLI(t, env, "", "index", "create", "users", "name").want(t, exitOK)
	r := runCLI(t, env, "", "ns", "list").want(t, exitOK)
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	if h := rows["NAME"]; len(h) != 6 || h[4] != "INDEXES" {
		t.Fatalf("ns list header: %v\n%s", h, r.stdout)
	}
	if got := rows["users"]; len(got) != 6 || got[4] != "age,name" {
		t.Errorf("ns list users: %v, want indexes age,name\n%s", got, r.stdout)
	}
	if got := rows["default"]; len(got) != 6 || got[4] != "-" {
		t.Errorf("ns list default: %v, want no index\n%s", got, r.stdout)
	}
}
