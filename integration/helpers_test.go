package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
)

// DefaultImage is the PostgreSQL image the tests run unless
// STORAGE_TEST_PG_IMAGE names another; integration/image/build.sh builds it.
// The official image (postgres:15, postgres:16-alpine, …) works the same way.
const DefaultImage = "mycelia-storage/postgres:15-local"

func image() string {
	if s := os.Getenv("STORAGE_TEST_PG_IMAGE"); s != "" {
		return s
	}
	return DefaultImage
}

// skipOrFail skips the test with msg, or fails it when CI=true: CI must run
// every integration test.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: the integration tests must run)")
	}
	t.Skip(msg)
}

var (
	dockerOnce sync.Once
	dockerErr  error
)

// requireDocker skips (or under CI=true fails) the test when no Docker engine
// answers or the image is missing.
func requireDocker(t testing.TB) {
	t.Helper()
	dockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		p, err := testcontainers.NewDockerProvider()
		if err != nil {
			dockerErr = fmt.Errorf("no Docker engine: %w", err)
			return
		}
		defer p.Close()
		if err := p.Health(ctx); err != nil {
			dockerErr = fmt.Errorf("no Docker engine answers: %w", err)
			return
		}
		if out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", image()).CombinedOutput(); err != nil {
			dockerErr = fmt.Errorf("image %s is missing (%w: %s); build it with: bash integration/image/build.sh",
				image(), err, bytes.TrimSpace(out))
		}
	})
	if dockerErr != nil {
		skipOrFail(t, "integration tests need Docker and the PostgreSQL image: "+dockerErr.Error())
	}
}

// pgContainer is a PostgreSQL server in a container.
type pgContainer struct {
	*postgres.PostgresContainer
	DSN string // admin DSN of the database the container created
}

type pgOptions struct {
	durable  bool // fsync on (the server's default) instead of the module's fsync=off
	hostPort int  // fixed host port (survives restarts); 0 = any
}

func init() {
	// The reaper needs an image that cannot be pulled here; every test
	// removes its containers itself (t.Cleanup).
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// This machine may itself run in a container (/.dockerenv), and then
	// testcontainers would reach published ports through the default
	// gateway. The engine here is local: its ports are on the loopback.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
}

// startPostgres starts a container, removed when the test ends.
func startPostgres(t testing.TB, o pgOptions) *pgContainer {
	t.Helper()
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	opts := []testcontainers.ContainerCustomizer{
		postgres.WithDatabase("storage"),
		postgres.WithUsername("storage"),
		postgres.WithPassword("storage"),
		// Both the official image and ours log the line twice on a first
		// start (a temporary server for initialization, then the real one).
		postgres.BasicWaitStrategies(),
		// initdb need not fsync the new cluster (both images honour this):
		// a container's files outlive its processes, and the server itself
		// runs with fsync on where a test needs it.
		testcontainers.WithEnv(map[string]string{"POSTGRES_INITDB_ARGS": "--no-sync"}),
	}
	if o.durable {
		opts = append(opts, testcontainers.WithCmd("postgres", "-c", "max_connections=200"))
	} else {
		opts = append(opts, testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "max_connections=200"))
	}
	if o.hostPort != 0 {
		hp := strconv.Itoa(o.hostPort)
		opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.PortBindings = network.PortMap{
				network.MustParsePort("5432/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hp}},
			}
		}))
	}
	c, err := postgres.Run(ctx, image(), opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("start PostgreSQL container (%s): %v", image(), err)
	}
	dsn, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("container %.12s (%s) ready in %v", c.GetContainerID(), image(), time.Since(start).Round(time.Millisecond))
	return &pgContainer{PostgresContainer: c, DSN: dsn}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// exec runs a command in the container and returns its output.
func (c *pgContainer) exec(t testing.TB, cmd ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, r, err := c.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		t.Fatalf("exec %v: %v", cmd, err)
	}
	out, _ := io.ReadAll(r)
	if code != 0 {
		t.Fatalf("exec %v: exit %d\n%s", cmd, code, out)
	}
	return string(out)
}

// newSchema creates a schema in the container's database, dropped when the
// test ends, and returns a DSN whose search_path selects it (the pattern of
// sqlstore's own tests).
func (c *pgContainer) newSchema(t testing.TB) (dsn, name string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name = "t_" + hex.EncodeToString(b[:])
	c.adminExec(t, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.DSN)
		if err != nil {
			t.Logf("cleanup: connect: %v", err) // the container may be gone already
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", name, err)
		}
	})
	return withParams(t, c.DSN, map[string]string{"search_path": name}), name
}

// newDatabase creates a database in the container and returns its DSN.
func (c *pgContainer) newDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "db_" + hex.EncodeToString(b[:])
	c.adminExec(t, "CREATE DATABASE "+name)
	u, err := url.Parse(c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func (c *pgContainer) adminExec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		t.Fatalf("connect to the container: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func withParams(t testing.TB, dsn string, params map[string]string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// docker runs the docker CLI.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// migrateBinary builds cmd/migrate once per test run.
func migrateBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "integration-migrate")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "migrate")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/mycelia-kernel/storage/cmd/migrate").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build cmd/migrate: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// migrate runs the built CLI and returns its stdout; a non-zero exit fails
// the test.
func migrate(t testing.TB, args ...string) string {
	t.Helper()
	out, code, stderr := migrateCode(t, args...)
	if code != 0 {
		t.Fatalf("migrate %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

func migrateCode(t testing.TB, args ...string) (stdout string, code int, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, migrateBinary(t), args...)
	cmd.Env = append(os.Environ(), "STORAGE_DSN=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("migrate: %v", err)
		}
		return o.String(), ee.ExitCode(), e.String()
	}
	return o.String(), 0, e.String()
}
