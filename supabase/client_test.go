package supabase_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/supabase"
)

const (
	secretKey = "sb_secret_CANARY_abc123"
	// jwtKey has the shape of a legacy service_role key.
	jwtKey    = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJl"
	argCanary = "ARGCANARY_9f8e7d"
)

// recorded is what the server saw of one request.
type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

// server answers every request with handler and records the requests.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newServer(t *testing.T, handler http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), b})
		s.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func newClient(t *testing.T, url, key string, opts ...supabase.Option) *supabase.Client {
	t.Helper()
	c, err := supabase.New(url, key, opts...)
	require.NoError(t, err)
	return c
}

// asError asserts err is an *Error for fn and returns it.
func asError(t *testing.T, err error, fn string) *supabase.Error {
	t.Helper()
	var e *supabase.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, fn, e.Function)
	return e
}

type userArgs struct {
	UserID   string `json:"p_user_id"`
	Provider string `json:"p_provider"`
}

func TestCall_requestShape(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		args     any
		wantBody string
		bearer   bool
	}{
		{"nil args, sb_secret key", secretKey, nil, `{}`, false},
		{"struct args, JWT key", jwtKey, userArgs{"u-1", "openai"}, `{"p_user_id":"u-1","p_provider":"openai"}`, true},
		{"map args", secretKey, map[string]any{"p_user_id": "u-1", "p_n": 2}, `{"p_n":2,"p_user_id":"u-1"}`, false},
		{"raw object args", secretKey, json.RawMessage(` { "p_x" : true } `), `{"p_x":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply(http.StatusNoContent, ""))
			c := newClient(t, srv.URL, tt.key)

			require.NoError(t, c.Call(t.Context(), "get_user_api_key", tt.args, nil))

			reqs := srv.requests()
			require.Len(t, reqs, 1)
			r := reqs[0]
			assert.Equal(t, http.MethodPost, r.method)
			assert.Equal(t, "/rest/v1/rpc/get_user_api_key", r.path)
			assert.Equal(t, tt.key, r.header.Get("apikey"))
			if tt.bearer {
				assert.Equal(t, "Bearer "+tt.key, r.header.Get("Authorization"))
			} else {
				assert.Empty(t, r.header.Values("Authorization"))
			}
			assert.Equal(t, "application/json", r.header.Get("Content-Type"))
			assert.Equal(t, "application/json", r.header.Get("Accept"))
			assert.Equal(t, "public", r.header.Get("Content-Profile"))
			assert.JSONEq(t, tt.wantBody, string(r.body))
		})
	}
}

func TestCall_schemaAndPathOptions(t *testing.T) {
	srv := newServer(t, reply(http.StatusNoContent, ""))
	c := newClient(t, srv.URL+"/rest/v1/", secretKey, supabase.WithSchema("byok"))

	require.NoError(t, c.Call(t.Context(), "fn", nil, nil))

	reqs := srv.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/rest/v1/rpc/fn", reqs[0].path)
	assert.Equal(t, "byok", reqs[0].header.Get("Content-Profile"))
}

func TestCall_injectedHTTPClientIsUsed(t *testing.T) {
	srv := newServer(t, reply(http.StatusNoContent, ""))
	var calls atomic.Int32
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := newClient(t, srv.URL, secretKey, supabase.WithHTTPClient(hc))

	require.NoError(t, c.Call(t.Context(), "fn", nil, nil))
	assert.Equal(t, int32(1), calls.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCall_successResults(t *testing.T) {
	t.Run("204 void leaves out untouched", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusNoContent, ""))
		out := "before"
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out))
		assert.Equal(t, "before", out)
	})
	t.Run("200 empty body leaves out untouched", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, ""))
		out := "before"
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out))
		assert.Equal(t, "before", out)
	})
	t.Run("200 string scalar", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, `"sk-live"`))
		var out string
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out))
		assert.Equal(t, "sk-live", out)
	})
	t.Run("200 null into *string is nil", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, `null`))
		s := "set"
		out := &s
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out))
		assert.Nil(t, out)
	})
	t.Run("200 null into string stays", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, `null`))
		out := "stays"
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out))
		assert.Equal(t, "stays", out)
	})
	t.Run("200 bool", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, `true`))
		var out bool
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out))
		assert.True(t, out)
	})
	t.Run("200 jsonb object into struct", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, `{"provider":"openai","has_key":true,"updated_at":"2025-01-02T03:04:05Z"}`))
		var out struct {
			Provider  string    `json:"provider"`
			HasKey    bool      `json:"has_key"`
			UpdatedAt time.Time `json:"updated_at"`
		}
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out))
		assert.Equal(t, "openai", out.Provider)
		assert.True(t, out.HasKey)
		assert.Equal(t, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), out.UpdatedAt)
	})
	t.Run("200 body with nil out is discarded", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, `{"anything":1}`))
		require.NoError(t, newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, nil))
	})
}

func TestCall_postgrestErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantCode   string
		permission bool
		notFound   bool
		retryable  bool
	}{
		{"function missing", 404, `{"code":"PGRST202","message":"Could not find the function public.fn(p_x) in the schema cache","details":"Searched for the function public.fn with parameter p_x","hint":null}`, "PGRST202", false, true, false},
		{"anon key unauthenticated", 401, `{"code":"42501","message":"permission denied for function fn","details":null,"hint":null}`, "42501", true, false, false},
		{"authenticated but not service role", 403, `{"code":"42501","message":"permission denied for function fn","details":null,"hint":null}`, "42501", true, false, false},
		{"bad JWT", 401, `{"code":"PGRST301","message":"JWSError JWSInvalidSignature","details":null,"hint":null}`, "PGRST301", true, false, false},
		{"invalid parameter", 400, `{"code":"22023","message":"provider not supported","details":null,"hint":null}`, "22023", false, false, false},
		{"unknown user", 409, `{"code":"23503","message":"insert or update violates foreign key constraint","details":"Key (user_id) is not present","hint":null}`, "23503", false, false, false},
		{"vault health", 500, `{"code":"XX001","message":"vault round trip failed","details":null,"hint":null}`, "XX001", false, false, false},
		{"database unavailable", 503, `{"code":"PGRST001","message":"Database client error. Retrying the connection.","details":null,"hint":null}`, "PGRST001", false, false, true},
		{"non-string details and hint", 400, `{"code":"P0001","message":"m","details":{"a":[1,2]},"hint":7}`, "P0001", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply(tt.status, tt.body))
			err := newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", map[string]string{"p_x": "1"}, nil)

			e := asError(t, err, "fn")
			assert.Equal(t, tt.status, e.Status)
			assert.Equal(t, tt.wantCode, e.Code)
			assert.NotEmpty(t, e.Message)
			assert.NoError(t, e.Err)
			assert.Equal(t, tt.permission, supabase.IsPermission(err))
			assert.Equal(t, tt.notFound, supabase.IsNotFound(err))
			assert.Equal(t, tt.retryable, supabase.IsRetryable(err))
		})
	}
}

func TestCall_postgrestErrorFields(t *testing.T) {
	srv := newServer(t, reply(400, `{"code":"P0001","message":"m","details":{"a":[1, 2]},"hint":7}`))
	err := newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, nil)

	e := asError(t, err, "fn")
	assert.Equal(t, "m", e.Message)
	assert.Equal(t, `{"a":[1,2]}`, e.Details)
	assert.Equal(t, "7", e.Hint)
}

func TestCall_nonPostgrestErrorBodies(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		permission bool
		retryable  bool
	}{
		{"proxy HTML 502", 502, "<html><body>502 Bad Gateway</body></html>", false, true},
		{"empty 504", 504, "", false, true},
		{"gateway 401 without code", 401, `{"message":"Invalid API key"}`, true, false},
		{"JSON array 500", 500, `[1,2]`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply(tt.status, tt.body))
			err := newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, nil)

			e := asError(t, err, "fn")
			assert.Equal(t, tt.status, e.Status)
			assert.Empty(t, e.Code)
			assert.NoError(t, e.Err)
			assert.Equal(t, tt.permission, supabase.IsPermission(err))
			assert.Equal(t, tt.retryable, supabase.IsRetryable(err))
			assert.False(t, supabase.IsNotFound(err))
		})
	}
}

func TestCall_malformedResponse(t *testing.T) {
	for _, body := range []string{`{"provider":`, `"unterminated`, `not json`, `"a string into a bool"`, `true false`} {
		t.Run(body, func(t *testing.T) {
			srv := newServer(t, reply(http.StatusOK, body))
			var out bool
			err := newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, &out)

			e := asError(t, err, "fn")
			require.ErrorIs(t, err, supabase.ErrMalformedResponse)
			assert.Equal(t, http.StatusOK, e.Status)
			assert.False(t, supabase.IsRetryable(err))
		})
	}
}

func TestCall_responseTooLarge(t *testing.T) {
	t.Run("success body", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusOK, `"`+strings.Repeat("x", 100)+`"`))
		var out string
		err := newClient(t, srv.URL, secretKey, supabase.WithMaxResponseBytes(64)).Call(t.Context(), "fn", nil, &out)

		e := asError(t, err, "fn")
		require.ErrorIs(t, err, supabase.ErrResponseTooLarge)
		assert.Equal(t, http.StatusOK, e.Status)
		assert.Empty(t, out)
	})
	t.Run("error body", func(t *testing.T) {
		srv := newServer(t, reply(http.StatusBadRequest, `{"code":"22023","message":"`+strings.Repeat("x", 100)+`"}`))
		err := newClient(t, srv.URL, secretKey, supabase.WithMaxResponseBytes(64)).Call(t.Context(), "fn", nil, nil)

		e := asError(t, err, "fn")
		require.ErrorIs(t, err, supabase.ErrResponseTooLarge)
		assert.Equal(t, http.StatusBadRequest, e.Status)
	})
	t.Run("exactly the cap is accepted", func(t *testing.T) {
		body := `"` + strings.Repeat("x", 62) + `"` // 64 bytes
		srv := newServer(t, reply(http.StatusOK, body))
		var out string
		require.NoError(t, newClient(t, srv.URL, secretKey, supabase.WithMaxResponseBytes(64)).Call(t.Context(), "fn", nil, &out))
		assert.Len(t, out, 62)
	})
}

// hangingServer never answers until the request's context ends or the test does.
func hangingServer(t *testing.T) *server {
	done := make(chan struct{})
	srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	t.Cleanup(func() { close(done) }) // runs before srv.Close, which waits for handlers
	return srv
}

func TestCall_contextDeadlineOnHangingServer(t *testing.T) {
	srv := hangingServer(t)
	c := newClient(t, srv.URL, secretKey)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()

	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx, "fn", nil, nil) }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("Call did not return after its context's deadline")
	}

	e := asError(t, err, "fn")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 0, e.Status)
	assert.NotErrorIs(t, err, supabase.ErrTransport)
	assert.False(t, supabase.IsRetryable(err))
}

func TestCall_httpClientTimeout(t *testing.T) {
	srv := hangingServer(t)
	c := newClient(t, srv.URL, secretKey, supabase.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}))

	err := c.Call(t.Context(), "fn", nil, nil)

	asError(t, err, "fn")
	require.ErrorIs(t, err, supabase.ErrTransport)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, supabase.IsRetryable(err))
}

func TestCall_canceledContextSendsNothing(t *testing.T) {
	srv := newServer(t, reply(http.StatusNoContent, ""))
	c := newClient(t, srv.URL, secretKey)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	err := c.Call(ctx, "fn", nil, nil)

	asError(t, err, "fn")
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, supabase.IsRetryable(err))
	assert.Empty(t, srv.requests())
}

func TestCall_connectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newClient(t, url, secretKey)

	err := c.Call(t.Context(), "fn", nil, nil)

	e := asError(t, err, "fn")
	require.ErrorIs(t, err, supabase.ErrTransport)
	assert.Equal(t, 0, e.Status)
	assert.True(t, supabase.IsRetryable(err))
	assert.Equal(t, "supabase: rpc fn: transport error", err.Error())
	assert.NotContains(t, err.Error(), url)
}

func TestCall_redirectNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(other.Close)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/rest/v1/rpc/fn", http.StatusTemporaryRedirect)
	})

	err := newClient(t, srv.URL, secretKey).Call(t.Context(), "fn", nil, nil)

	e := asError(t, err, "fn")
	assert.Equal(t, http.StatusTemporaryRedirect, e.Status)
	assert.Empty(t, e.Code)
	assert.Equal(t, int32(0), elsewhere.Load())
}

func TestCall_refusedBeforeAnyRequest(t *testing.T) {
	var nilPtr *userArgs
	var outStr string
	tests := []struct {
		name string
		ctx  context.Context
		fn   string
		args any
		out  any
	}{
		{"empty name", t.Context(), "", nil, nil},
		{"uppercase name", t.Context(), "Get_key", nil, nil},
		{"schema-qualified name", t.Context(), "public.fn", nil, nil},
		{"path traversal", t.Context(), "../fn", nil, nil},
		{"query in name", t.Context(), "fn?select=*", nil, nil},
		{"leading digit", t.Context(), "1fn", nil, nil},
		{"too long", t.Context(), strings.Repeat("a", 64), nil, nil},
		{"key as name", t.Context(), secretKey, nil, nil},
		{"nil context", nil, "fn", nil, nil},
		{"slice args", t.Context(), "fn", []string{"a"}, nil},
		{"string args", t.Context(), "fn", "a", nil},
		{"number args", t.Context(), "fn", 1, nil},
		{"raw null args", t.Context(), "fn", json.RawMessage(`null`), nil},
		{"typed nil pointer args", t.Context(), "fn", nilPtr, nil},
		{"unencodable args", t.Context(), "fn", map[string]any{"c": make(chan int)}, nil},
		{"non-pointer out", t.Context(), "fn", nil, outStr},
		{"nil pointer out", t.Context(), "fn", nil, (*string)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, reply(http.StatusNoContent, ""))
			c := newClient(t, srv.URL, secretKey)

			err := c.Call(tt.ctx, tt.fn, tt.args, tt.out)

			e := asError(t, err, tt.fn)
			require.ErrorIs(t, err, supabase.ErrInvalidArgument)
			assert.Equal(t, 0, e.Status)
			assert.False(t, supabase.IsRetryable(err))
			assert.Empty(t, srv.requests())
			assert.NotContains(t, err.Error(), "CANARY")
		})
	}
}

func TestNew_validates(t *testing.T) {
	bad := []struct {
		name, url, key string
		opts           []supabase.Option
	}{
		{"empty url", "", secretKey, nil},
		{"no scheme", "abc.supabase.co", secretKey, nil},
		{"unparsable", "https://abc.supabase.co:port", secretKey, nil},
		{"ftp", "ftp://abc.supabase.co", secretKey, nil},
		{"http to a remote host", "http://abc.supabase.co", secretKey, nil},
		{"http to a name resolving anywhere", "http://localhost.example.com", secretKey, nil},
		{"no host", "https:///rest/v1", secretKey, nil},
		{"opaque", "https:abc.supabase.co", secretKey, nil},
		{"user info", "https://admin:" + secretKey + "@abc.supabase.co", secretKey, nil},
		{"query", "https://abc.supabase.co/?apikey=" + secretKey, secretKey, nil},
		{"empty query", "https://abc.supabase.co?", secretKey, nil},
		{"fragment", "https://abc.supabase.co#" + secretKey, secretKey, nil},
		{"empty key", "https://abc.supabase.co", "", nil},
		{"blank key", "https://abc.supabase.co", " \t\n", nil},
		{"key with space", "https://abc.supabase.co", "sb_secret_CANARY abc123", nil},
		{"key with newline", "https://abc.supabase.co", "sb_secret_CANARY\nabc123", nil},
		{"key with control char", "https://abc.supabase.co", "sb_secret_CANARY\x00abc123", nil},
		{"key with non-ASCII", "https://abc.supabase.co", "sb_secret_CANARY_é", nil},
		{"bad schema", "https://abc.supabase.co", secretKey, []supabase.Option{supabase.WithSchema("Public; drop")}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c, err := supabase.New(tt.url, tt.key, tt.opts...)
			require.ErrorIs(t, err, supabase.ErrInvalidConfig)
			assert.Nil(t, c)
			assert.NotContains(t, err.Error(), "CANARY")
			assert.NotContains(t, err.Error(), "abc.supabase.co")
		})
	}

	good := []string{
		"https://abc.supabase.co",
		"https://abc.supabase.co/",
		"  https://abc.supabase.co/rest/v1/  ",
		"https://ABC.supabase.co:8443/prefix",
		"http://localhost:54321",
		"http://127.0.0.1:54321",
		"http://[::1]:54321",
	}
	for _, url := range good {
		t.Run("accepts "+url, func(t *testing.T) {
			// Zero-valued options and a nil Option mean the defaults.
			_, err := supabase.New(url, "  "+secretKey+"  ", supabase.WithHTTPClient(nil),
				supabase.WithMaxResponseBytes(0), supabase.WithSchema(""), nil)
			require.NoError(t, err)
		})
	}
}

func TestNew_pathSuffixes(t *testing.T) {
	for _, suffix := range []string{"", "/", "/rest/v1", "/rest/v1/", "/prefix", "/prefix/rest/v1"} {
		t.Run(suffix, func(t *testing.T) {
			srv := newServer(t, reply(http.StatusNoContent, ""))
			require.NoError(t, newClient(t, srv.URL+suffix, secretKey).Call(t.Context(), "fn", nil, nil))

			want := "/rest/v1/rpc/fn"
			if strings.HasPrefix(suffix, "/prefix") {
				want = "/prefix/rest/v1/rpc/fn"
			}
			reqs := srv.requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, want, reqs[0].path)
		})
	}
}

// leakHandler echoes the request's argument into every field it can.
func leakHandler(t *testing.T, status int, code string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var args map[string]string
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
			t.Errorf("decode args: %v", err)
		}
		v := args["p_value"]
		if status == http.StatusOK {
			reply(status, `{"value":"`+v+`", "apikey":"`+r.Header.Get("apikey"))(w, r) // truncated JSON
			return
		}
		if code == "" {
			code = v
		}
		body, _ := json.Marshal(map[string]string{
			"code":    code,
			"message": "invalid input syntax for type uuid: \"" + v + "\" key " + r.Header.Get("apikey"),
			"details": "Key (value)=(" + v + ") already exists.",
			"hint":    "did you mean " + v + "?",
		})
		reply(status, string(body))(w, r)
	}
}

func TestCall_neverPrintsKeyOrArguments(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{"error body echoing the argument", http.StatusBadRequest, "22P02"},
		{"conflict echoing the argument", http.StatusConflict, "23505"},
		{"argument echoed as the code", http.StatusBadRequest, ""},
		{"malformed success body echoing the argument", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, leakHandler(t, tt.status, tt.code))
			c := newClient(t, srv.URL, secretKey)
			var out map[string]string

			err := c.Call(t.Context(), "fn", map[string]string{"p_value": argCanary}, &out)

			e := asError(t, err, "fn")
			assert.Equal(t, tt.status, e.Status)
			if tt.status == http.StatusOK {
				require.ErrorIs(t, err, supabase.ErrMalformedResponse)
			} else {
				assert.Contains(t, e.Message, argCanary, "the fields keep the server's text for the caller")
				assert.Equal(t, tt.code, e.Code)
			}
			assertNoCanary(t, err)
			assertNoCanary(t, c)
		})
	}
}

func TestClient_formatting(t *testing.T) {
	srv := newServer(t, reply(http.StatusNoContent, ""))
	for _, key := range []string{secretKey, jwtKey} {
		c := newClient(t, srv.URL, key)
		assertNoCanary(t, c, key)
		assert.Equal(t, "supabase.Client{"+strings.TrimPrefix(srv.URL, "http://")+"}", fmt.Sprint(c))

		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("client", "c", c)
		assert.NotContains(t, buf.String(), key)
		// Even a copy of the struct, which fmt prints field by field, shows no key.
		assert.NotContains(t, fmt.Sprintf("%v %+v %#v", *c, *c, *c), key)
	}
}

// assertNoCanary checks that no fmt verb or slog rendering of v shows the key, the
// canary argument, or the other canaries given.
func assertNoCanary(t *testing.T, v any, more ...string) {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
	s := fmt.Sprintf("%v|%+v|%#v|%s|%q|%x|%d", v, v, v, v, v, v, v) + buf.String()
	if err, ok := v.(error); ok {
		s += err.Error()
	}
	for _, c := range append([]string{"CANARY", argCanary, "abc123"}, more...) {
		assert.NotContains(t, s, c)
	}
}

func TestError_formatting(t *testing.T) {
	e := &supabase.Error{Function: "fn", Status: 400, Code: "22023", Message: argCanary, Details: argCanary, Hint: argCanary}
	assertNoCanary(t, e)
	assert.Equal(t, "supabase: rpc fn: status 400, code 22023 (invalid argument)", fmt.Sprintf("%#v", e))
	assert.Equal(t, `"supabase: rpc fn: status 400, code 22023 (invalid argument)"`, fmt.Sprintf("%q", e))

	invalid := &supabase.Error{Function: "sb_secret_" + argCanary + "\n", Err: supabase.ErrInvalidArgument}
	assert.Equal(t, "supabase: rpc (invalid name): invalid call", invalid.Error())

	assert.Equal(t, "supabase: rpc fn: unknown error", (&supabase.Error{Function: "fn"}).Error())
	assert.Equal(t, "<nil>", fmt.Sprint((*supabase.Error)(nil)))
}

func TestCall_concurrent(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var args struct {
			N int `json:"p_n"`
		}
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if args.N%7 == 0 {
			reply(http.StatusBadRequest, `{"code":"22023","message":"multiple of seven"}`)(w, r)
			return
		}
		reply(http.StatusOK, fmt.Sprint(args.N*2))(w, r)
	})
	c := newClient(t, srv.URL, jwtKey)

	const workers, calls = 32, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				n := w*calls + i + 1
				var out int
				err := c.Call(t.Context(), "double", map[string]int{"p_n": n}, &out)
				if n%7 == 0 {
					var e *supabase.Error
					if assert.ErrorAs(t, err, &e) {
						assert.Equal(t, "22023", e.Code)
					}
					continue
				}
				if assert.NoError(t, err) {
					assert.Equal(t, 2*n, out)
				}
			}
		})
	}
	wg.Wait()
	assert.Len(t, srv.requests(), workers*calls)
}

func TestError_classifiersOnForeignErrors(t *testing.T) {
	err := errors.New("not ours")
	assert.False(t, supabase.IsPermission(err))
	assert.False(t, supabase.IsNotFound(err))
	assert.False(t, supabase.IsRetryable(err))
	assert.False(t, supabase.IsRetryable(nil))
}
