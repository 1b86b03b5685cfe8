package httpapi

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/byok-go/byok/providers"
)

// Config is what [New] needs. Verify, Keys, Consent and Resolver are required; a route
// whose collaborator is missing answers 500 server_misconfigured.
type Config struct {
	Keys      KeyStore
	Consent   ConsentStore
	Resolver  Resolver      // its Invalidate runs after every successful write
	Validator Validator     // nil: &providers.Validator{}
	Health    HealthChecker // nil: /api/health/byok answers 503 byok_health_not_configured
	HealthKey string        // operator key for /api/health/byok; "" = not configured
	// Usage reads the record of who paid for GET /api/usage (usage.Store). Nil: the
	// route is not served, and GET /api/usage answers 404 not_found like any unknown path.
	Usage UsageReader
	// Verify authenticates a request: it returns the token's claims, or an error for a
	// missing or bad credential (401 unauthorized; so is a Claims without UserID). It is
	// the one authentication hook, and required. [JWTVerifier.Verify] verifies Supabase access tokens; a Claims with only
	// UserID set is enough unless RequireAAL2ForKeyWrites is on.
	Verify func(r *http.Request) (Claims, error)
	// RequireAAL2ForKeyWrites makes POST /api/keys and DELETE /api/keys/{service} answer
	// 403 mfa_required unless the token's session passed multi-factor authentication
	// (Claims.MFA of what Verify returns), so an app can prompt for step-up.
	RequireAAL2ForKeyWrites bool
	Limiter                 Limiter      // nil: a MemoryLimiter, per process; NewPostgresLimiter shares one budget across instances
	Logger                  *slog.Logger // nil: slog.Default()
}

// ErrMissingConfig reports a required Config field that is nil.
var ErrMissingConfig = errors.New("httpapi: missing configuration")

// Validate reports the required fields that are missing, as an error matching
// ErrMissingConfig; nil when the Config is complete.
func (c Config) Validate() error {
	var missing []string
	if c.Verify == nil {
		missing = append(missing, "Verify")
	}
	if c.Keys == nil {
		missing = append(missing, "Keys")
	}
	if c.Consent == nil {
		missing = append(missing, "Consent")
	}
	if c.Resolver == nil {
		missing = append(missing, "Resolver")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingConfig, strings.Join(missing, ", "))
	}
	return nil
}

// Response error codes.
const (
	codeUnauthorized        = "unauthorized"
	codeForbidden           = "forbidden"
	codeMFARequired         = "mfa_required"
	codeInvalidRequest      = "invalid_request"
	codeUnsupportedMedia    = "unsupported_media_type"
	codeBadRequest          = "bad_request"
	codeTooLarge            = "payload_too_large"
	codeRateLimited         = "rate_limit_exceeded"
	codeLimiterUnavailable  = "rate_limiter_unavailable"
	codeVaultUnavailable    = "VAULT_UNAVAILABLE"
	codeSettingsUnavailable = "SETTINGS_UNAVAILABLE"
	codeUsageUnavailable    = "USAGE_UNAVAILABLE"
	codeProviderUnavailable = "provider_unavailable"
	codeKeyBroken           = "key_broken"
	codeHealthNotConfigured = "byok_health_not_configured"
	codeMisconfigured       = "server_misconfigured"
	codeNotFound            = "not_found"
	codeMethodNotAllowed    = "method_not_allowed"
	codeInternal            = "internal_error"
)

// handler serves the routes.
type handler struct {
	cfg     Config
	mux     *http.ServeMux
	log     *slog.Logger
	healthH [sha256.Size]byte // SHA-256 of HealthKey, compared in constant time
}

// New returns the handler of the routes:
//
//	GET    /api/keys                list the user's keys (metadata only)
//	POST   /api/keys                store a key (and, for gateway, a base URL)
//	DELETE /api/keys/{service}      delete a key (for gateway, also the base URL)
//	POST   /api/keys/validate       check a key with its provider; stores nothing
//	GET    /api/user-settings       the user's consent to team fallback
//	POST   /api/user-settings       set it
//	GET    /api/providers/resolve   which credential the user gets (never the key)
//	GET    /api/usage               the user's team-paid requests and consent changes (with Config.Usage)
//	GET    /api/health/byok         a Vault round trip, for operators
//
// Mount it at the server's root (its patterns include /api/). A Config that fails
// Validate is logged once here, and the affected routes answer 500.
func New(cfg Config) http.Handler {
	if cfg.Validator == nil {
		cfg.Validator = &providers.Validator{}
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewMemoryLimiter()
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		h.log.Error("httpapi: incomplete configuration; affected routes answer 500", "error", err.Error())
	}
	if cfg.HealthKey != "" {
		h.healthH = sha256.Sum256([]byte(cfg.HealthKey))
	}
	h.route("/api/keys", map[string]routeFunc{
		http.MethodGet:  h.authed(limitKeys, h.listKeys),
		http.MethodPost: h.keyWrite(limitKeys, h.putKey),
	})
	h.route("/api/keys/validate", map[string]routeFunc{http.MethodPost: h.authed(limitValidate, h.validateKey)})
	h.route("/api/keys/{service}", map[string]routeFunc{http.MethodDelete: h.keyWrite(limitKeysDelete, h.deleteKey)})
	h.route("/api/user-settings", map[string]routeFunc{
		http.MethodGet:  h.authed(limitSettingsRead, h.getSettings),
		http.MethodPost: h.authed(limitSettingsUpdate, h.setSettings),
	})
	h.route("/api/providers/resolve", map[string]routeFunc{http.MethodGet: h.authed(limitResolve, h.resolve)})
	if cfg.Usage != nil {
		h.route("/api/usage", map[string]routeFunc{http.MethodGet: h.authed(limitUsageRead, h.getUsage)})
	}
	h.route("/api/health/byok", map[string]routeFunc{http.MethodGet: h.health})
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// ServeHTTP answers an unclean path with a JSON 404 itself: http.ServeMux would redirect
// it (307, with an HTML body) before any route runs.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !cleanPath(r.URL) {
		h.notFound(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, "not_found", func(w *recorder, r *http.Request) {
		w.fail(http.StatusNotFound, codeNotFound, "No such route")
	})
}

// cleanPath reports whether u's path is in the one form a route is served at: absolute,
// without empty, "." or ".." segments or a trailing slash, and without percent-escapes that
// differ from the path's own encoding (an escaped slash or dot, for instance).
func cleanPath(u *url.URL) bool {
	p := u.Path
	return p != "" && p[0] == '/' && u.RawPath == "" && path.Clean(p) == p
}

// routeFunc answers one request through a recorder.
type routeFunc func(w *recorder, r *http.Request)

// route registers pattern with a handler per method; other methods get 405.
func (h *handler) route(pattern string, methods map[string]routeFunc) {
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		h.serve(w, r, pattern, func(w *recorder, r *http.Request) {
			fn, ok := methods[r.Method]
			if !ok {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				w.fail(http.StatusMethodNotAllowed, codeMethodNotAllowed, "Method not allowed")
				return
			}
			fn(w, r)
		})
	})
}

// serve runs fn with the common headers, a panic guard and one log line.
func (h *handler) serve(rw http.ResponseWriter, r *http.Request, route string, fn routeFunc) {
	start := time.Now()
	w := &recorder{ResponseWriter: rw}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	defer func() {
		if p := recover(); p != nil {
			// The panic value is not logged: it could hold anything, a key included.
			if w.status == 0 {
				w.fail(http.StatusInternalServerError, codeInternal, "Internal error")
			}
			w.code = codeInternal
			h.log.Error("httpapi: handler panicked", "route", route, "method", r.Method)
		}
		level := slog.LevelInfo
		if w.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("route", route),
			slog.String("method", r.Method),
			slog.Int("status", w.status),
			slog.Duration("duration", time.Since(start)),
		}
		if w.code != "" {
			attrs = append(attrs, slog.String("error", w.code))
		}
		h.log.LogAttrs(r.Context(), level, "httpapi request", attrs...)
	}()
	fn(w, r)
}

// recorder is the ResponseWriter of a route: it writes JSON and remembers the status and
// error code for the log line.
type recorder struct {
	http.ResponseWriter
	status int
	code   string
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// json answers status with v as JSON.
func (w *recorder) json(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","reason":"Internal error"}`)
		w.code = codeInternal
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fail answers status with {"error": code, "reason": reason}.
func (w *recorder) fail(status int, code, reason string) {
	w.code = code
	w.json(status, map[string]string{"error": code, "reason": reason})
}

// noContent answers 204.
func (w *recorder) noContent() { w.WriteHeader(http.StatusNoContent) }

// authed authenticates the request, then charges the user's limit l, then runs fn with
// the user id.
func (h *handler) authed(l Limit, fn func(w *recorder, r *http.Request, user string)) routeFunc {
	return h.guarded(l, false, fn)
}

// keyWrite is authed for a route that writes keys: with RequireAAL2ForKeyWrites, a token
// without MFA is refused with 403 mfa_required before the rate limit.
func (h *handler) keyWrite(l Limit, fn func(w *recorder, r *http.Request, user string)) routeFunc {
	return h.guarded(l, true, fn)
}

func (h *handler) guarded(l Limit, keyWrite bool, fn func(w *recorder, r *http.Request, user string)) routeFunc {
	return func(w *recorder, r *http.Request) {
		if h.cfg.Verify == nil {
			w.fail(http.StatusInternalServerError, codeMisconfigured, "Authentication is not configured")
			return
		}
		claims, err := h.cfg.Verify(r)
		if err != nil || claims.UserID == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="byok"`)
			w.fail(http.StatusUnauthorized, codeUnauthorized, "Missing or invalid access token")
			w.code = refusalCode(err) // the reason, for the log line only
			return
		}
		if keyWrite && h.cfg.RequireAAL2ForKeyWrites && !claims.MFA() {
			w.fail(http.StatusForbidden, codeMFARequired, "Multi-factor authentication (aal2) is required to change keys")
			return
		}
		user := claims.UserID
		d, err := h.cfg.Limiter.Allow(r.Context(), user, l)
		if err != nil {
			w.fail(http.StatusServiceUnavailable, codeLimiterUnavailable, "Rate limiter unavailable")
			return
		}
		setRateHeaders(w.Header(), d)
		if !d.Allowed {
			secs := int((d.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			w.fail(http.StatusTooManyRequests, codeRateLimited, "Too many requests")
			return
		}
		fn(w, r, user)
	}
}

func setRateHeaders(h http.Header, d Decision) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(d.Remaining, 0)))
	if !d.Reset.IsZero() {
		h.Set("X-RateLimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	}
}

func (h *handler) invalidate(user string) {
	if h.cfg.Resolver != nil {
		h.cfg.Resolver.Invalidate(user)
	}
}
