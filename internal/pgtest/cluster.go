package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// errMissing marks "no PostgreSQL binaries here": a skip, or a failure under requireEnv.
var errMissing = errors.New("pgtest: PostgreSQL 15 not found (install postgresql-15, or set " +
	binEnv + " to its bin dir); CI sets " + requireEnv + "=1 to make this a failure")

const (
	binEnv     = "BYOK_PG_BIN"
	requireEnv = "BYOK_REQUIRE_POSTGRES"
	defaultBin = "/usr/lib/postgresql/15/bin"
)

// required reports whether the environment makes a missing PostgreSQL a failure.
func required(getenv func(string) string) bool {
	ok, err := strconv.ParseBool(getenv(requireEnv))
	return err == nil && ok
}

// findBinDir returns the first directory holding initdb and pg_ctl among $BYOK_PG_BIN, the
// Debian postgresql-15 location and `pg_config --bindir`. An explicit $BYOK_PG_BIN that lacks
// them is not skipped over: the user asked for it.
func findBinDir(ctx context.Context, getenv func(string) string) (string, error) {
	if dir := getenv(binEnv); dir != "" {
		if hasServerBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w: %s=%s has no initdb and pg_ctl", errMissing, binEnv, dir)
	}
	if hasServerBinaries(defaultBin) {
		return defaultBin, nil
	}
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
		if dir := strings.TrimSpace(string(out)); err == nil && hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", errMissing
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// cluster is a running throwaway PostgreSQL server.
type cluster struct {
	bin      string
	dir      string // temporary directory: data/, server.log, the Unix socket
	port     int
	asUser   []string // "runuser -u postgres --" when running as root, else empty
	watchdog *exec.Cmd
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// dsn is the connection string for database db as role.
func (c *cluster) dsn(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.port, db)
}

// startCluster runs initdb and starts a server on a free loopback port. PostgreSQL refuses to
// run as root, so as root both run as the postgres OS user, which then owns the directory.
func startCluster(ctx context.Context, bin string) (c *cluster, err error) {
	dir, err := os.MkdirTemp("", "byok-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c = &cluster{bin: bin, dir: dir}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	if os.Geteuid() == 0 {
		if err := chownToPostgres(dir); err != nil {
			return nil, err
		}
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// The port is free when chosen but may be taken before the server binds it: try again.
	for attempt := 1; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k '%s' -c fsync=off "+
			"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200", c.port, c.dir)
		out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.dir, "server.log"),
			"-w", "-t", "60", "-s", "-o", opts, "start")
		if err == nil {
			break
		}
		if attempt == 3 {
			log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
			return nil, fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, lastLines(log, 20))
		}
	}
	c.startWatchdog()
	return c, nil
}

// run runs a PostgreSQL program from the bin dir (as the postgres OS user when root).
func (c *cluster) run(ctx context.Context, program string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, c.asUser...), filepath.Join(c.bin, program)), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// startWatchdog starts a shell that stops the server and removes the directory once this
// process is gone, so a test binary that panics or times out (and so never reaches Main's
// cleanup) leaves nothing running. It is best effort: without /bin/sh there is no watchdog.
func (c *cluster) startWatchdog() {
	const script = `pid=$1; dir=$2; shift 2
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$dir"`
	stop := append(append([]string{}, c.asUser...), filepath.Join(c.bin, "pg_ctl"),
		"-D", c.dataDir(), "-m", "immediate", "-s", "stop")
	args := append([]string{"-c", script, "pgtest-watchdog", strconv.Itoa(os.Getpid()), c.dir}, stop...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.SysProcAttr = watchdogAttr() // its own process group: ^C to the tests does not stop it
	if cmd.Start() == nil {
		c.watchdog = cmd
	}
}

// stop ends the watchdog, stops the server if it runs and removes the directory.
func (c *cluster) stop() {
	if c.watchdog != nil {
		_ = c.watchdog.Process.Kill()
		_ = c.watchdog.Wait()
		c.watchdog = nil
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_, _ = c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "-s", "stop")
	}
	_ = os.RemoveAll(c.dir)
}

func chownToPostgres(dir string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("pgtest: running as root needs a postgres OS user to run the server: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("pgtest: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("pgtest: postgres gid %q: %w", u.Gid, err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
