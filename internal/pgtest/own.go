package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Owned is a migrated database on a cluster of its own, for tests that restart or freeze
// the server: listener faults, a hung database. Its [DB] fields and methods work as
// for [New]'s database.
type Owned struct {
	*DB
	c *cluster

	mu      sync.Mutex // guards stopped
	stopped []int      // pids sent SIGSTOP and not yet SIGCONT
}

// ownDatabase is the name of the database [Own] returns.
const ownDatabase = "byok_own"

// Own starts a private cluster for t (a few seconds: initdb, the templates) and returns
// a database on it holding the Supabase baseline (the stand-in or the real stack, as for
// [New]) and the migrations.
// When t ends, whether it passed or not, the cluster is resumed if frozen, stopped and
// removed. It skips or fails t without PostgreSQL, as [New] does.
func Own(t testing.TB) *Owned {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := findBinDir(ctx, os.Getenv)
	switch {
	case errors.Is(err, errMissing) && !required(os.Getenv):
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	s, err := stackFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCluster(ctx, bin, s)
	if err != nil {
		t.Fatal(err)
	}
	o := &Owned{c: c}
	t.Cleanup(o.cleanup)

	admin, err := pgx.Connect(ctx, c.dsn("postgres", "postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(context.Background())
	if err := createDatabase(ctx, admin, ownDatabase, migratedTemplate); err != nil {
		t.Fatal(err)
	}
	if o.DB, err = open(ctx, c, ownDatabase); err != nil {
		t.Fatal(err)
	}
	return o
}

// Restart stops the server (fast shutdown: sessions are terminated) and starts it again
// on the same port. Connections open before it are gone; pools reconnect.
func (o *Owned) Restart(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// -l: the new server writes to the log file, not to pg_ctl's output, which run reads
	// to its end.
	if out, err := o.c.run(ctx, "pg_ctl", "-D", o.c.dataDir(), "-l", filepath.Join(o.c.dir, "server.log"),
		"-m", "fast", "-w", "-t", "60", "-s", "restart"); err != nil {
		log, _ := os.ReadFile(filepath.Join(o.c.dir, "server.log"))
		t.Fatalf("pgtest: pg_ctl restart: %v\n%s\n%s", err, out, lastLines(log, 20))
	}
}

// Stop freezes the server with SIGSTOP: the postmaster first, so it starts no new
// process, then every process it started. Connections stay open and nothing answers:
// a hung database. New connections wait in the kernel's accept queue.
func (o *Owned) Stop(t testing.TB) {
	t.Helper()
	pm, err := o.postmaster()
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := stopProcess(pm); err != nil {
		t.Fatalf("pgtest: SIGSTOP postmaster: %v", err)
	}
	o.stopped = append(o.stopped, pm)
	children, err := childProcesses(pm)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range children {
		if stopProcess(pid) == nil { // a process that just exited is no matter
			o.stopped = append(o.stopped, pid)
		}
	}
}

// Continue resumes what Stop froze (SIGCONT).
func (o *Owned) Continue(t testing.TB) {
	t.Helper()
	if err := o.resume(); err != nil {
		t.Fatal(err)
	}
}

func (o *Owned) resume() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for i := len(o.stopped) - 1; i >= 0; i-- { // children first, the postmaster last
		if err := continueProcess(o.stopped[i]); err != nil && i == 0 {
			errs = append(errs, fmt.Errorf("pgtest: SIGCONT postmaster: %w", err))
		}
	}
	o.stopped = nil
	return errors.Join(errs...)
}

// postmaster returns the server's process id, the first line of postmaster.pid.
func (o *Owned) postmaster() (int, error) {
	b, err := os.ReadFile(filepath.Join(o.c.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: server not running: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("pgtest: postmaster.pid: %w", err)
	}
	return pid, nil
}

// cleanup resumes a frozen server, closes the pools and stops and removes the cluster.
func (o *Owned) cleanup() {
	_ = o.resume()
	if o.DB != nil {
		o.DB.close()
	}
	o.c.stop()
}

// childProcesses returns the processes whose parent is pid, from /proc.
func childProcesses(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("pgtest: Stop needs /proc: %w", err)
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			children = append(children, child)
		}
	}
	return children, nil
}
