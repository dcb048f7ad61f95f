package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mycelia-kernel/storage"
	"github.com/mycelia-kernel/storage/sqlstore"
)

// Environment of the re-executed test binary acting as the SQLite writer.
const (
	envWriterDB    = "INTEGRATION_SQLITE_WRITER_DB"
	envWriterAcks  = "INTEGRATION_SQLITE_WRITER_ACKS"
	envWriterStart = "INTEGRATION_SQLITE_WRITER_START"
)

func TestMain(m *testing.M) {
	if db := os.Getenv(envWriterDB); db != "" {
		os.Exit(sqliteWriter(db, os.Getenv(envWriterAcks), os.Getenv(envWriterStart)))
	}
	os.Exit(m.Run())
}

func sqliteDSN(path string) string { return "sqlite:" + path + "?synchronous=full" }

// sqliteWriter writes until it is killed: keys k<start>, k<start+1>, …, by
// Set and by SetMany in fives, and appends each key to the ack log only
// after the call that wrote it returned without error. It never returns
// normally before a kill, except on an error.
func sqliteWriter(db, ackPath, startS string) int {
	start, err := strconv.Atoi(startS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer: bad start:", err)
		return 1
	}
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqliteDSN(db))
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer: open:", err)
		return 1
	}
	log, err := os.OpenFile(ackPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer:", err)
		return 1
	}
	pad := strings.Repeat("x", 300) // grow the WAL so that checkpoints happen
	ack := func(keys ...string) {
		// One write(2) per call: a SIGKILL cannot tear it, and the page
		// cache keeps it after the process dies.
		if _, err := log.WriteString(strings.Join(keys, "\n") + "\n"); err != nil {
			fmt.Fprintln(os.Stderr, "writer: ack log:", err)
			os.Exit(1)
		}
	}
	for i := start; ; {
		if i%2 == 0 {
			key := fmt.Sprintf("k%09d", i)
			if err := s.Set(ctx, key, map[string]any{"i": i, "pad": pad}, storage.InNamespace(faultNS)); err != nil {
				fmt.Fprintln(os.Stderr, "writer: set:", err)
				return 1
			}
			ack(key)
			i++
			continue
		}
		items := make([]storage.Item, 5)
		keys := make([]string, 5)
		for j := range items {
			keys[j] = fmt.Sprintf("k%09d", i+j)
			items[j] = storage.Item{Key: keys[j], Value: map[string]any{"i": i + j, "pad": pad}}
		}
		res, err := s.SetMany(ctx, items, storage.InNamespace(faultNS))
		if err != nil {
			fmt.Fprintln(os.Stderr, "writer: setmany:", err)
			return 1
		}
		for _, r := range res.Results {
			if r.Err != nil {
				fmt.Fprintln(os.Stderr, "writer: setmany:", r.Key, r.Err)
				return 1
			}
		}
		ack(keys...)
		i += 5 // odd + 5: the next i is even again
	}
}

// readAcks returns the keys in complete lines of the ack log.
func readAcks(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		keys = append(keys, sc.Text())
	}
	return keys
}

// TestSQLiteKillDurability kills a writing process with SIGKILL at random
// points, 30 times (25 of them in the middle of writes); after each kill the database opens, holds every
// acknowledged write, and passes PRAGMA integrity_check.
func TestSQLiteKillDurability(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "kill.db")
	ackPath := filepath.Join(dir, "acks.log")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const rounds = 30
	midWrite := 0
	for round := range rounds {
		before := len(readAcks(t, ackPath))
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Env = append(os.Environ(),
			envWriterDB+"="+db, envWriterAcks+"="+ackPath,
			envWriterStart+"="+strconv.Itoa(round*10_000_000))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if round%6 == 5 {
			// Now and then, at a random point from the start: during open
			// and migration too.
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		} else {
			// Otherwise once the writer is writing, at a random point.
			if !waitFor(30*time.Second, func() bool { return len(readAcks(t, ackPath)) > before }) {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: the writer acknowledged nothing in 30s; stderr:\n%s", round, stderr.String())
			}
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			midWrite++
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !ws.Signaled() {
			t.Fatalf("round %d: the writer was not killed by the signal: %v\n%s", round, err, stderr.String())
		}
		keys := readAcks(t, ackPath)
		verifySQLite(t, db, keys)
		t.Logf("round %d: killed after %d new acknowledged writes; %d in all, all present", round, len(keys)-before, len(keys))
	}
	if midWrite < 20 {
		t.Errorf("only %d kills in the middle of writes, want >= 20", midWrite)
	}
}

// verifySQLite reopens the database: every acknowledged key must be there
// with its value, and PRAGMA integrity_check must say ok.
func verifySQLite(t *testing.T, db string, keys []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlstore.Open(ctx, sqliteDSN(db))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	var integrity string
	if err := s.Backend().Writer.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q (%v), want ok", integrity, err)
	}
	for len(keys) > 0 {
		n := min(500, len(keys))
		batch := keys[:n]
		keys = keys[n:]
		res, err := s.GetMany(ctx, batch, storage.InNamespace(faultNS))
		if err != nil {
			t.Fatalf("GetMany: %v", err)
		}
		for _, k := range batch {
			e, ok := res.Entries[k]
			if !ok {
				t.Fatalf("acknowledged write %s is missing after the kill (%v)", k, res.Errors[k])
			}
			var v struct{ I int }
			want, _ := strconv.Atoi(strings.TrimPrefix(k, "k"))
			if err := json.Unmarshal(e.Value, &v); err != nil || v.I != want {
				t.Fatalf("%s = %.60s…, want i=%d", k, e.Value, want)
			}
		}
	}
}
