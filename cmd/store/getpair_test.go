package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// TestGetConsistentPair: get prints the audit actors of the very state whose
// value it prints. A writer deletes the key and creates it again, each life
// by another actor with its name in the value; every life is version 1, so
// a version that matches does not make the entry and the actors one state.
// Before the fix get read the entry, then the metadata, and paired them when
// the versions matched: a life's value with the next life's actors.
func TestGetConsistentPair(t *testing.T) {
	for _, tg := range targets {
		t.Run(tg.Name, func(t *testing.T) {
			dsn := tg.DSN(t)
			env := map[string]string{"STORAGE_DSN": dsn}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := sqlstore.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			actors := []string{"alice", "bob"}
			if err := s.Set(storage.ContextWithActor(ctx, actors[0]), "k", map[string]string{"by": actors[0]}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 1; ctx.Err() == nil; i++ {
					a := actors[i%2]
					_ = s.Delete(ctx, "k")
					_ = s.Set(storage.ContextWithActor(ctx, a), "k", map[string]string{"by": a})
					time.Sleep(time.Millisecond) // a life long enough to be read whole now and then
				}
			}()
			paired, mismatched, other := 0, 0, 0
			// 4 s, or longer until 10 gets printed actors (a run of the
			// command is about 10 ms, but a second under -race beside other
			// packages' tests), at most a minute.
			start := time.Now()
			for paired < 300 && time.Since(start) < time.Minute && (time.Since(start) < 4*time.Second || paired < 10) {
				r := runCLI(t, env, "", "get", "k", "--json")
				if r.code == exitNotFound {
					other++
					continue
				}
				if r.code != exitOK {
					t.Fatalf("get: exit %d\n%s%s", r.code, r.stdout, r.stderr)
				}
				m := r.decode(t)
				by, _ := m["value"].(map[string]any)["by"].(string)
				if m["createdBy"] == nil && m["updatedBy"] == nil {
					other++
					continue
				}
				paired++
				if m["createdBy"] != by || m["updatedBy"] != by {
					mismatched++
					if mismatched <= 3 {
						t.Errorf("get printed the value of %q's write with createdBy %v, updatedBy %v (version %v, revision %v)",
							by, m["createdBy"], m["updatedBy"], m["version"], m["revision"])
					}
				}
			}
			cancel()
			wg.Wait()
			if mismatched > 0 {
				t.Errorf("%d of %d gets with actors paired a value with another write's actors", mismatched, paired)
			}
			if paired < 10 {
				t.Errorf("only %d gets printed the actors (%d not found or without them): want at least 10", paired, other)
			}
		})
	}
}
