package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	realEnv    = "BYOK_SUPABASE_REAL"
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

// stack is the Supabase database stack a cluster is built from.
type stack struct {
	// real is the absolute path of the folder holding the real Supabase parts (baseline.sql,
	// and install-vault.sh for the supabase_vault extension); "" means the stand-in in testdata.
	real string
}

// stackFromEnv returns the real stack when $BYOK_SUPABASE_REAL names a folder holding
// baseline.sql, the stand-in when it is unset, and an error (never errMissing: asking for the
// real stack makes anything missing a failure) when it names something else.
func stackFromEnv(getenv func(string) string) (stack, error) {
	dir := getenv(realEnv)
	if dir == "" {
		return stack{}, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return stack{}, fmt.Errorf("pgtest: %s=%s: %w", realEnv, dir, err)
	}
	if fi, err := os.Stat(filepath.Join(abs, "baseline.sql")); err != nil || fi.IsDir() {
		return stack{}, fmt.Errorf("pgtest: %s=%s does not hold baseline.sql (the real Supabase parts)", realEnv, dir)
	}
	return stack{real: abs}, nil
}

// superuser is the role initdb creates: supabase_admin on the real stack, as on hosted Supabase,
// where postgres is not a superuser; postgres on the stand-in.
func (s stack) superuser() string {
	if s.real != "" {
		return "supabase_admin"
	}
	return "postgres"
}

func (s stack) String() string {
	if s.real != "" {
		return "real Supabase stack from " + s.real
	}
	return "stand-in Supabase stack"
}

// cluster is a running throwaway PostgreSQL server.
type cluster struct {
	bin      string
	stack    stack
	dir      string // temporary directory: data/, server.log, the Unix socket, getkey.sh
	port     int
	opts     string   // the server options (pg_ctl -o) it was started with, for a restart
	asUser   []string // "runuser -u postgres --" when running as root, else empty
	watchdog *exec.Cmd
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// dsn is the connection string for database db as role.
func (c *cluster) dsn(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.port, db)
}

// startCluster runs initdb and starts a server of stack s on a free loopback port. PostgreSQL
// refuses to run as root, so as root both run as the postgres OS user, which then owns the
// directory.
//
// On the real stack the superuser is supabase_admin, the server preloads supabase_vault with a
// getkey script of its own (a random root key per cluster), and it keeps hosted Supabase's
// settings that decide what reaches the WAL: wal_level=logical, full_page_writes=on,
// wal_compression=off. It also counts calls of PL/pgSQL functions (track_functions=pl).
func startCluster(ctx context.Context, bin string, s stack) (c *cluster, err error) {
	dir, err := os.MkdirTemp("", "byok-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c = &cluster{bin: bin, stack: s, dir: dir}
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
	settings := "-c fsync=off -c synchronous_commit=off -c max_connections=200"
	if s.real != "" {
		if err := checkVaultInstalled(ctx, bin, s); err != nil {
			return nil, err
		}
		getkey, err := writeGetkeyScript(dir)
		if err != nil {
			return nil, err
		}
		settings += fmt.Sprintf(" -c shared_preload_libraries=supabase_vault -c vault.getkey_script='%s'"+
			" -c wal_level=logical -c full_page_writes=on -c wal_compression=off -c track_functions=pl", getkey)
	} else {
		settings += " -c full_page_writes=off"
	}
	if out, err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", s.superuser(), "-A", "trust",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// The port is free when chosen but may be taken before the server binds it: try again.
	for attempt := 1; ; attempt++ {
		c.port, err = freePort()
		if err != nil {
			return nil, err
		}
		c.opts = fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k '%s' %s", c.port, c.dir, settings)
		out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.dir, "server.log"),
			"-w", "-t", "60", "-s", "-o", c.opts, "start")
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

// checkVaultInstalled fails with what to do when the server in bin has no supabase_vault. It
// asks pg_config, next to the server or on PATH; without one, starting the server says it.
func checkVaultInstalled(ctx context.Context, bin string, s stack) error {
	pgConfig := filepath.Join(bin, "pg_config")
	if _, err := os.Stat(pgConfig); err != nil {
		if pgConfig, err = exec.LookPath("pg_config"); err != nil {
			return nil
		}
	}
	out, err := exec.CommandContext(ctx, pgConfig, "--pkglibdir").Output()
	if err != nil {
		return nil
	}
	lib := filepath.Join(strings.TrimSpace(string(out)), "supabase_vault.so")
	if _, err := os.Stat(lib); err != nil {
		return fmt.Errorf("pgtest: %s: %s not found: run %s (as root) to build and install supabase_vault",
			s, lib, filepath.Join(s.real, "install-vault.sh"))
	}
	return nil
}

// writeGetkeyScript writes dir/getkey.sh, which prints a random 256-bit Vault root key as 64
// hex digits, readable only by the server's OS user.
func writeGetkeyScript(dir string) (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("pgtest: vault root key: %w", err)
	}
	path := filepath.Join(dir, "getkey.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho "+hex.EncodeToString(key)+"\n"), 0o700); err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := chownToPostgres(path); err != nil {
			return "", err
		}
	}
	return path, nil
}

// psql runs psql from the bin dir (or PATH) against database db as role, with ON_ERROR_STOP.
// The real baseline is a pg_dump file with COPY ... FROM stdin blocks, which psql reads.
func (c *cluster) psql(ctx context.Context, role, db string, args ...string) ([]byte, error) {
	psql := filepath.Join(c.bin, "psql")
	if _, err := os.Stat(psql); err != nil {
		if psql, err = exec.LookPath("psql"); err != nil {
			return nil, fmt.Errorf("pgtest: psql not found next to the server or on PATH: %w", err)
		}
	}
	argv := append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
		"-p", strconv.Itoa(c.port), "-U", role, "-d", db}, args...)
	cmd := exec.CommandContext(ctx, psql, argv...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
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

func chownToPostgres(path string) error {
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
	if err := os.Chown(path, uid, gid); err != nil {
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
