package postgrest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/byok-go/byok/internal/pgtest"
)

// maxBodyBytes caps a request body.
const maxBodyBytes = 1 << 20

// Server is an httptest server that answers POST /rest/v1/rpc/{fn} like a Supabase project.
// Its fields are set by [Start] and must not be changed. It is safe for concurrent use.
type Server struct {
	URL            string // the project URL to give a client, without /rest/v1
	ServiceKey     string // legacy service_role key: a JWT signed with JWTSecret
	SecretKey      string // "sb_secret_..." key, service_role
	AnonKey        string // legacy anon key: a JWT signed with JWTSecret
	PublishableKey string // "sb_publishable_..." key, anon
	JWTSecret      []byte // signs the legacy keys and users' access tokens (HS256)

	srv       *httptest.Server
	pool      *pgxpool.Pool // as authenticator
	closeOnce sync.Once
	requests  atomic.Int64
	canceled  atomic.Int64
}

// Start serves the RPCs of db's functions in schema public until t ends. It connects to db
// as authenticator and fails t if it cannot.
func Start(t testing.TB, db *pgtest.DB) *Server {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.AuthenticatorDSN)
	if err != nil {
		t.Fatalf("postgrest: %v", err)
	}
	cfg.MaxConns = 10
	// When a request's context ends, send PostgreSQL a cancel request for the running query
	// at once and keep the connection. pgx's default breaks the connection instead and
	// cancels the query only as it closes it.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("postgrest: connect as authenticator: %v", err)
	}

	s := &Server{
		SecretKey:      "sb_secret_" + randomString(24),
		PublishableKey: "sb_publishable_" + randomString(24),
		JWTSecret:      []byte(hex.EncodeToString(randomBytes(32))),
		pool:           pool,
	}
	now := time.Now().Unix()
	for key, role := range map[*string]string{&s.ServiceKey: "service_role", &s.AnonKey: "anon"} {
		*key = s.Token(t, map[string]any{"iss": "supabase", "ref": "byoktest", "role": role, "iat": now, "exp": now + 10*365*24*3600})
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/rest/v1/rpc/{fn}", s.serveRPC)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &apiError{status: 404, code: "PGRST125", message: "Invalid path specified in request URL"})
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server, waiting for calls in progress, and closes its database pool. A
// client then gets transport errors. Start arranges for it to run when the test ends.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.srv.Close()
		s.pool.Close()
	})
}

// Token returns an HS256 JWT of claims signed with JWTSecret, failing t if claims do not
// encode.
func (s *Server) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := SignJWT(s.JWTSecret, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// UserToken returns an access token for the signed-in user sub, valid for an hour, with
// the claims Supabase Auth puts in one (role authenticated, aud authenticated).
func (s *Server) UserToken(t testing.TB, sub string) string {
	t.Helper()
	now := time.Now().Unix()
	return s.Token(t, map[string]any{
		"iss": s.URL + "/auth/v1", "sub": sub, "aud": "authenticated", "role": "authenticated",
		"iat": now, "exp": now + 3600, "aal": "aal1", "is_anonymous": false,
	})
}

// Requests returns how many requests reached the RPC endpoint, answered or not, since
// [Start]: one per round trip a client made.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Canceled returns how many calls' database work ended because the request's context did
// (the client went away or timed out) since [Start]. The count rises once the canceled
// query has returned, so a test that cancels a call should poll it.
func (s *Server) Canceled() int { return int(s.canceled.Load()) }

// apiError is an error answer: PostgREST's {code, message, details, hint}, or, when gateway
// is set, the API gateway's {message, hint}.
type apiError struct {
	status  int
	code    string
	message string
	details string
	hint    string
	gateway bool
	header  [2]string // an extra response header, if header[0] != ""
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.header[0] != "" {
		w.Header().Set(e.header[0], e.header[1])
	}
	var body any
	if e.gateway {
		body = struct {
			Message string `json:"message"`
			Hint    string `json:"hint"`
		}{e.message, e.hint}
	} else {
		w.Header().Set("Proxy-Status", "PostgREST; error="+e.code)
		body = struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Details *string `json:"details"`
			Hint    *string `json:"hint"`
		}{e.code, e.message, nullable(e.details), nullable(e.hint)}
	}
	b, _ := json.Marshal(body) // strings only: cannot fail
	writeJSON(w, e.status, b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// identity is who a request acts as.
type identity struct {
	role   string // the PostgreSQL role to switch to
	claims string // request.jwt.claims, a JSON object
}

// authenticated is PostgREST's notion: the role is not the anonymous role. It decides
// between 401 and 403 for SQLSTATE 42501.
func (id identity) authenticated() bool { return id.role != "anon" }

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	id, aerr := s.authenticate(r)
	if aerr == nil {
		aerr = checkRequest(r)
	}
	var body []byte
	var keys []string
	if aerr == nil {
		body, keys, aerr = readBody(w, r)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	out, aerr := s.call(r.Context(), r.PathValue("fn"), body, keys, id)
	switch {
	case aerr != nil:
		writeError(w, aerr)
	case out == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// authenticate does what the API gateway and then PostgREST do with the credentials.
func (s *Server) authenticate(r *http.Request) (identity, *apiError) {
	key := r.Header.Get("apikey")
	if key == "" {
		key = r.URL.Query().Get("apikey")
	}
	if key == "" {
		return identity{}, &apiError{status: 401, gateway: true,
			message: "No API key found in request", hint: "No `apikey` request header or url param was found."}
	}
	invalid := &apiError{status: 401, gateway: true,
		message: "Invalid API key", hint: "Double check your Supabase `anon` or `service_role` API key."}
	var keyID identity
	switch {
	case key == s.SecretKey:
		keyID = identity{role: "service_role", claims: `{"role":"service_role"}`}
	case key == s.PublishableKey:
		keyID = identity{role: "anon", claims: `{"role":"anon"}`}
	case isJWT(key):
		c, err := verifyJWT(s.JWTSecret, key, time.Now())
		if err != nil || (c.role != "anon" && c.role != "service_role") {
			return identity{}, invalid
		}
		keyID = identity{role: c.role, claims: string(c.raw)}
	default:
		return identity{}, invalid
	}

	authz := r.Header.Get("Authorization")
	if len(authz) < len("Bearer ") || !strings.EqualFold(authz[:len("Bearer ")], "Bearer ") {
		return keyID, nil // no token: the apikey decides
	}
	token := strings.TrimSpace(authz[len("Bearer "):])
	if token == key && !isJWT(key) {
		return keyID, nil // supabase-js repeats an opaque key as the bearer token
	}
	c, err := verifyJWT(s.JWTSecret, token, time.Now())
	if err != nil {
		return identity{}, err
	}
	if c.role == "" {
		c.role = "anon" // PostgREST's db-anon-role
	}
	return identity{role: c.role, claims: string(c.raw)}, nil
}

// checkRequest refuses what the stand-in does not serve.
func checkRequest(r *http.Request) *apiError {
	if r.Method != http.MethodPost {
		return &apiError{status: 405, code: "PGRST101", message: "Cannot use the " + r.Method + " method on RPC",
			header: [2]string{"Allow", http.MethodPost}}
	}
	if p := r.Header.Get("Content-Profile"); p != "" && p != "public" {
		return &apiError{status: 406, code: "PGRST106", message: "Invalid schema: " + p,
			hint: "Only the following schemas are exposed: public"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{status: 415, code: "PGRST107", message: "Content-Type not acceptable: " + ct}
		}
	}
	return nil
}

// readBody returns the body, if it is a JSON object, and its keys, sorted.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, []string, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, nil, &apiError{status: 400, code: "PGRST102", message: "Could not read the request body", details: err.Error()}
	}
	var args map[string]json.RawMessage
	if trimmed := strings.TrimSpace(string(body)); !strings.HasPrefix(trimmed, "{") || json.Unmarshal(body, &args) != nil {
		return nil, nil, &apiError{status: 400, code: "PGRST102", message: "Empty or invalid json",
			details: "The body of an RPC call must be a JSON object of named arguments."}
	}
	return body, slices.Sorted(maps.Keys(args)), nil
}

// pgError turns an error from PostgreSQL or pgx into PostgREST's answer. started says
// whether a connection had been obtained.
func pgError(err error, id identity, started bool) *apiError {
	var pe *pgconn.PgError
	if started && errors.As(err, &pe) {
		e := &apiError{code: pe.Code, message: pe.Message, details: pe.Detail, hint: pe.Hint}
		e.status = statusFor(pe, id.authenticated())
		if e.status == 401 {
			e.header = [2]string{"WWW-Authenticate", "Bearer"}
		}
		return e
	}
	if !started {
		return &apiError{status: 503, code: "PGRST000", message: "Database connection error. Retrying the connection.", details: err.Error()}
	}
	return &apiError{status: 503, code: "PGRST001", message: "Database client error. Retrying the connection.", details: err.Error()}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}

func randomString(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))[:n]
}
