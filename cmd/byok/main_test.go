package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/internal/pgtest"
)

// The tests build the command (go build into a temporary directory) and run it against
// throwaway databases of internal/pgtest, on the stand-in or the real Supabase stack.

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "byok-cmd-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	pgtest.Main(m)
	_ = os.RemoveAll(dir)
}

var builds sync.Map // tags -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// binary builds the command once per test binary: plain, or with the byok_testhooks tag
// (see hooks_testhooks.go).
func binary(t *testing.T, hooks bool) string {
	t.Helper()
	tags := ""
	if hooks {
		tags = "byok_testhooks"
	}
	v, _ := builds.LoadOrStore(tags, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, "byok"+tags)
		args := []string{"build", "-o", b.path}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command(goTool(), append(args, ".")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	require.NoError(t, b.err)
	return b.path
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// Canaries: every variable the command reads holds one, and so does the database URL's
// password. None may appear in anything it prints.
const canaryPassword = "canary-db-password-Zq81"

func serviceRoleJWT() string { return jwt(`{"role":"service_role","ref":"canary-ref"}`) }

// healthyEnv is a server environment that passes the env check, canaries all.
func healthyEnv() map[string]string {
	return map[string]string{
		"AI_GATEWAY_API_KEY":        "vck_canary_team_gateway_key",
		"AI_GATEWAY_URL":            "https://canary-gateway.example.com/v1",
		"AI_GATEWAY_ALLOWED_HOSTS":  "canary-gateway.example.com",
		"OPENAI_API_KEY":            "sk-canary-openai-server-key",
		"OPENROUTER_API_KEY":        "sk-or-canary-openrouter-server-key",
		"ANTHROPIC_API_KEY":         "sk-ant-canary-anthropic-server-key",
		"XAI_API_KEY":               "xai-canary-server-key",
		"SUPABASE_SECRET_KEY":       "sb_secret_canary_secret_key_value",
		"SUPABASE_SERVICE_ROLE_KEY": serviceRoleJWT(),
		"SUPABASE_DB_URL":           "postgresql://postgres:canary-unused-url-password@127.0.0.1:1/canary",
	}
}

// withPassword returns dsn with the canary password in it; the test clusters trust local
// connections, so it connects all the same.
func withPassword(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(u.User.Username(), canaryPassword)
	return u.String()
}

type output struct {
	stdout, stderr string
	code           int
}

// byok runs the command with env on top of this process's environment, minus every
// variable the command reads, and checks that no canary got out.
func byok(t *testing.T, bin string, env map[string]string, args ...string) output {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = environ(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := output{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run byok: %v", err)
	}
	noCanary(t, r)
	return r
}

func environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(secretEnv, name) || name == "NO_COLOR" || strings.HasPrefix(name, "BYOK_TEST_") {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func noCanary(t *testing.T, r output) {
	t.Helper()
	for name, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
		assert.NotContains(t, strings.ToLower(text), "canary", "a secret reached %s:\n%s", name, text)
	}
}

type report struct {
	OK     bool `json:"ok"`
	Checks []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Detail string `json:"detail"`
		Fix    string `json:"fix"`
	} `json:"checks"`
}

var checkIDs = []string{"connect", "migrations", "vault", "rls", "rpc-acl", "notify", "env", "scenarios"}

// parse parses --json output: one object, every fixed id in order, lower-case statuses.
func parse(t *testing.T, r output) report {
	t.Helper()
	var rep report
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&rep), "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	assert.False(t, dec.More(), "one JSON object only")
	var ids []string
	failed := false
	for _, c := range rep.Checks {
		ids = append(ids, c.ID)
		assert.Contains(t, []string{"pass", "warn", "fail", "skip"}, c.Status)
		assert.NotEmpty(t, c.Detail, c.ID)
		if c.Status == "warn" || c.Status == "fail" {
			assert.NotEmpty(t, c.Fix, "%s: a %s says how to fix it: %s", c.ID, c.Status, c.Detail)
		}
		failed = failed || c.Status == "fail"
	}
	assert.Equal(t, checkIDs, ids)
	assert.Equal(t, !failed, rep.OK)
	return rep
}

func (rep report) check(id string) (status, detail, fix string) {
	for _, c := range rep.Checks {
		if c.ID == id {
			return c.Status, c.Detail, c.Fix
		}
	}
	return "", "", ""
}

// statuses maps each check id to its status.
func (rep report) statuses() map[string]string {
	m := map[string]string{}
	for _, c := range rep.Checks {
		m[c.ID] = c.Status
	}
	return m
}

// healthy is what doctor reports on a healthy database. On the stand-in, postgres is a
// superuser (connect warns) and Vault is a stand-in schema, not the extension (vault
// warns); on the real stack everything passes.
func healthy(scenarios bool) map[string]string {
	want := map[string]string{}
	for _, id := range checkIDs {
		want[id] = "pass"
	}
	if !pgtest.Real() {
		want["connect"], want["vault"] = "warn", "warn"
	}
	if !scenarios {
		want["scenarios"] = "skip"
	}
	return want
}

func userCount(t *testing.T, db *pgtest.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(t.Context(), `select count(*) from auth.users`).Scan(&n))
	return n
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, port, _ := net.SplitHostPort(addr)
	return port
}
