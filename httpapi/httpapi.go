package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// KeyStore stores users' keys and gateway base URLs. vault.Store and resolvetest.Keys
// implement it.
type KeyStore interface {
	PutKey(ctx context.Context, userID string, id providers.ID, key providers.Secret) error
	DeleteKey(ctx context.Context, userID string, id providers.ID) error
	// PutGatewayKey stores the gateway key and base URL in one transaction: both, or on
	// any error neither. The URL passes the URL policy first (a rejection matches
	// providers.ErrGatewayURL); "" means the default and deletes a stored one.
	PutGatewayKey(ctx context.Context, userID string, key providers.Secret, baseURL string) error
	// DeleteGatewayKey deletes the gateway key and base URL in one transaction.
	DeleteGatewayKey(ctx context.Context, userID string) error
	// PutGatewayBaseURL stores the URL after the URL policy (a rejection matches
	// providers.ErrGatewayURL); "" deletes it.
	PutGatewayBaseURL(ctx context.Context, userID, baseURL string) error
	ListKeys(ctx context.Context, userID string) ([]resolve.KeyInfo, error)
}

// ConsentStore reads and sets users' consent to team fallback. consent.Store and
// resolvetest.Consent implement it.
type ConsentStore interface {
	AllowGatewayFallback(ctx context.Context, userID string) (bool, error)
	SetAllowGatewayFallback(ctx context.Context, userID string, allow bool) error
}

// Resolver resolves and forgets users' credentials; *resolve.Resolver implements it.
type Resolver interface {
	Resolve(ctx context.Context, userID string, opts ...resolve.CallOption) (resolve.Provider, resolve.Path, error)
	Invalidate(userID string)
}

// Validator checks a key with its provider; *providers.Validator implements it.
type Validator interface {
	Validate(ctx context.Context, id providers.ID, key providers.Secret) providers.Validation
}

// HealthChecker reports whether the key store works; vault.Store implements it.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Config is what [New] needs. Authenticate (or Verify), Keys, Consent and Resolver are
// required; a route whose collaborator is missing answers 500 server_misconfigured.
type Config struct {
	Keys      KeyStore
	Consent   ConsentStore
	Resolver  Resolver      // its Invalidate runs after every successful write
	Validator Validator     // nil: &providers.Validator{}
	Health    HealthChecker // nil: /api/health/byok answers 503 byok_health_not_configured
	HealthKey string        // operator key for /api/health/byok; "" = not configured
	// Authenticate returns the request's user id, or an error for a missing or bad
	// credential. Required unless Verify is set; NewJWTVerifier's Authenticate verifies
	// Supabase tokens.
	Authenticate func(r *http.Request) (userID string, err error)
	// Verify returns the request's token claims, or an error for a missing or bad
	// credential. When set it is used instead of Authenticate. NewJWTVerifier's Verify
	// fits.
	Verify func(r *http.Request) (Claims, error)
	// RequireAAL2ForKeyWrites makes POST /api/keys and DELETE /api/keys/{service} answer
	// 403 mfa_required unless the token's session passed multi-factor authentication
	// (Claims.MFA), so an app can prompt for step-up. It needs Verify: without it those
	// routes answer 500 server_misconfigured.
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
	if c.Authenticate == nil && c.Verify == nil {
		missing = append(missing, "Authenticate")
	}
	if c.RequireAAL2ForKeyWrites && c.Verify == nil {
		missing = append(missing, "Verify (for RequireAAL2ForKeyWrites)")
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

// maxBody is the largest request body accepted.
const maxBody = 64 << 10

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
	codeProviderUnavailable = "provider_unavailable"
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
		var (
			claims Claims
			err    error
		)
		switch {
		case h.cfg.Verify != nil:
			claims, err = h.cfg.Verify(r)
		case h.cfg.Authenticate != nil:
			claims.UserID, err = h.cfg.Authenticate(r)
		default:
			w.fail(http.StatusInternalServerError, codeMisconfigured, "Authentication is not configured")
			return
		}
		if err != nil || claims.UserID == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="byok"`)
			w.fail(http.StatusUnauthorized, codeUnauthorized, "Missing or invalid access token")
			w.code = refusalCode(err) // the reason, for the log line only
			return
		}
		if keyWrite && h.cfg.RequireAAL2ForKeyWrites {
			if h.cfg.Verify == nil {
				w.fail(http.StatusInternalServerError, codeMisconfigured, "MFA for key writes needs Config.Verify")
				return
			}
			if !claims.MFA() {
				w.fail(http.StatusForbidden, codeMFARequired, "Multi-factor authentication (aal2) is required to change keys")
				return
			}
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

// decode reads r's body, at most maxBody bytes, as one JSON object with only the fields
// of dst (a pointer to a struct with json tags). It answers the error itself and reports
// false on failure: a Content-Type other than application/json (a charset parameter may
// say utf-8) is 415; anything but exactly one object with distinct field names spelled as
// in dst, valid UTF-8 and values of the fields' types is 400.
func decode(w *recorder, r *http.Request, dst any) bool {
	if !jsonContentType(r.Header.Values("Content-Type")) {
		w.fail(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "Content-Type must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			w.fail(http.StatusRequestEntityTooLarge, codeTooLarge, "Request body exceeds 64 KiB")
			return false
		}
		w.fail(http.StatusBadRequest, codeInvalidRequest, "Request body could not be read")
		return false
	}
	if reason := checkJSON(body, jsonFields(dst)); reason != "" {
		w.fail(http.StatusBadRequest, codeInvalidRequest, reason)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "A field has the wrong type")
		return false
	}
	return true
}

// jsonContentType reports whether the request's single Content-Type is application/json,
// with no parameter but an optional charset=utf-8.
func jsonContentType(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt, params, err := mime.ParseMediaType(values[0])
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// maxJSONDepth bounds the nesting checkJSON walks; request bodies are flat objects.
const maxJSONDepth = 8

// checkJSON checks what encoding/json lets through: body must be valid UTF-8 holding one
// JSON object whose field names are exactly those of fields (json matches names in any
// case), with no field null, no name repeated in any object (json keeps the last), and no
// string holding U+FFFD (json writes it for an escaped lone surrogate). It returns a fixed
// reason, or "" when the body passes. Types are left to the decoder.
func checkJSON(body []byte, fields map[string]bool) string {
	if !utf8.Valid(body) {
		return "Request body is not valid UTF-8"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "Request body must be one JSON object"
	}
	if reason := checkObject(dec, fields, 1); reason != "" {
		return reason
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "Request body must be one JSON object"
	}
	return ""
}

// checkObject reads an object's members up to its closing brace, its opening brace already
// read. fields, when not nil, are the only names allowed, and their values must not be null.
func checkObject(dec *json.Decoder, fields map[string]bool, depth int) string {
	seen := map[string]bool{}
	for {
		t, err := dec.Token()
		if err != nil {
			return "Malformed JSON body"
		}
		if t == json.Delim('}') {
			return ""
		}
		name, ok := t.(string)
		switch {
		case !ok:
			return "Malformed JSON body"
		case strings.ContainsRune(name, utf8.RuneError):
			return "Request body is not valid UTF-8"
		case seen[name]:
			return "A field appears more than once"
		case fields != nil && !fields[name]:
			return "Unknown field, or a field name in the wrong case"
		}
		seen[name] = true
		t, err = dec.Token()
		if err != nil {
			return "Malformed JSON body"
		}
		if fields != nil && t == nil {
			return "A field is null"
		}
		if reason := checkValue(dec, t, depth); reason != "" {
			return reason
		}
	}
}

// checkValue checks the value that starts with token t.
func checkValue(dec *json.Decoder, t json.Token, depth int) string {
	switch v := t.(type) {
	case string:
		if strings.ContainsRune(v, utf8.RuneError) {
			return "Request body is not valid UTF-8"
		}
	case json.Delim:
		if depth >= maxJSONDepth {
			return "Request body is nested too deeply"
		}
		if v == '{' {
			return checkObject(dec, nil, depth+1)
		}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return "Malformed JSON body"
			}
			if reason := checkValue(dec, t, depth+1); reason != "" {
				return reason
			}
		}
		if t, err := dec.Token(); err != nil || t != json.Delim(']') {
			return "Malformed JSON body"
		}
	}
	return ""
}

// jsonFields is the set of JSON field names of the struct dst points to.
func jsonFields(dst any) map[string]bool {
	t := reflect.TypeOf(dst).Elem()
	fields := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = true
		}
	}
	return fields
}

// parseService reads a service name; an unknown one is answered 400 bad_request.
func parseService(w *recorder, s string) (providers.ID, bool) {
	id, err := providers.Parse(s)
	if err != nil {
		w.fail(http.StatusBadRequest, codeBadRequest, "Unsupported service")
		return "", false
	}
	return id, true
}

// parseKey checks an API key: surrounding white space trimmed, then the one key rule,
// providers.CheckKey (1 to 1024 printable ASCII characters, no white space). A bad key is
// answered 400 invalid_request.
func parseKey(w *recorder, s *string) (providers.Secret, bool) {
	if s == nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "apiKey is required")
		return providers.Secret{}, false
	}
	k := strings.TrimSpace(*s)
	if providers.CheckKey(k) != nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "apiKey must be 1 to 1024 printable ASCII characters without white space")
		return providers.Secret{}, false
	}
	return providers.NewSecret(k), true
}

// parseServiceAndKey checks the service and apiKey fields of a request body.
func parseServiceAndKey(w *recorder, service, apiKey *string) (providers.ID, providers.Secret, bool) {
	if service == nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "service is required")
		return "", providers.Secret{}, false
	}
	id, ok := parseService(w, *service)
	if !ok {
		return "", providers.Secret{}, false
	}
	key, ok := parseKey(w, apiKey)
	return id, key, ok
}

// keyInfo is one element of GET /api/keys.
type keyInfo struct {
	Service   providers.ID `json:"service"`
	CreatedAt time.Time    `json:"createdAt"`
	LastUsed  *time.Time   `json:"lastUsed"`
}

func (h *handler) listKeys(w *recorder, r *http.Request, user string) {
	if h.cfg.Keys == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Key store is not configured")
		return
	}
	infos, err := h.cfg.Keys.ListKeys(r.Context(), user)
	if err != nil {
		w.fail(http.StatusInternalServerError, codeVaultUnavailable, "Key store unavailable")
		return
	}
	out := make([]keyInfo, 0, len(infos))
	for _, k := range infos {
		out = append(out, keyInfo{Service: k.Service, CreatedAt: k.CreatedAt.UTC(), LastUsed: k.LastUsed})
	}
	slices.SortFunc(out, func(a, b keyInfo) int { return strings.Compare(string(a.Service), string(b.Service)) })
	w.json(http.StatusOK, out)
}

func (h *handler) putKey(w *recorder, r *http.Request, user string) {
	if h.cfg.Keys == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Key store is not configured")
		return
	}
	var req struct {
		Service *string `json:"service"`
		APIKey  *string `json:"apiKey"`
		BaseURL *string `json:"baseUrl"`
	}
	if !decode(w, r, &req) {
		return
	}
	id, key, ok := parseServiceAndKey(w, req.Service, req.APIKey)
	if !ok {
		return
	}
	if req.BaseURL != nil && id != providers.Gateway {
		w.fail(http.StatusBadRequest, codeBadRequest, "baseUrl is only accepted for the gateway service")
		return
	}
	// A gateway key with a baseUrl field is one write of both, so the key and the host
	// it is sent to never disagree; "" stores the default URL. Without the field the
	// stored URL stays as it is.
	var err error
	if req.BaseURL != nil {
		err = h.cfg.Keys.PutGatewayKey(r.Context(), user, key, *req.BaseURL)
	} else {
		err = h.cfg.Keys.PutKey(r.Context(), user, id, key)
	}
	// Also after an error: a write whose answer was lost may have committed.
	h.invalidate(user)
	switch {
	case errors.Is(err, providers.ErrGatewayURL):
		w.fail(http.StatusBadRequest, codeBadRequest, "Gateway base URL is not allowed")
	case errors.Is(err, providers.ErrInvalidKey):
		w.fail(http.StatusBadRequest, codeInvalidRequest, "apiKey must be 1 to 1024 printable ASCII characters without white space")
	case err != nil:
		w.fail(http.StatusInternalServerError, codeVaultUnavailable, "Key store unavailable")
	default:
		w.noContent()
	}
}

func (h *handler) deleteKey(w *recorder, r *http.Request, user string) {
	if h.cfg.Keys == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Key store is not configured")
		return
	}
	id, ok := parseService(w, r.PathValue("service"))
	if !ok {
		return
	}
	// The gateway key goes with its base URL, in one write.
	var err error
	if id == providers.Gateway {
		err = h.cfg.Keys.DeleteGatewayKey(r.Context(), user)
	} else {
		err = h.cfg.Keys.DeleteKey(r.Context(), user, id)
	}
	h.invalidate(user) // also after an error: a write whose answer was lost may have committed
	if err != nil {
		w.fail(http.StatusInternalServerError, codeVaultUnavailable, "Key store unavailable")
		return
	}
	w.noContent()
}

func (h *handler) validateKey(w *recorder, r *http.Request, _ string) {
	var req struct {
		Service *string `json:"service"`
		APIKey  *string `json:"apiKey"`
	}
	if !decode(w, r, &req) {
		return
	}
	id, key, ok := parseServiceAndKey(w, req.Service, req.APIKey)
	if !ok {
		return
	}
	v := h.cfg.Validator.Validate(r.Context(), id, key)
	if v.Valid {
		w.json(http.StatusOK, map[string]bool{"isValid": true})
		return
	}
	reason := v.Reason
	if reason == "" {
		reason = "INVALID_KEY"
	}
	w.json(http.StatusOK, map[string]any{"isValid": false, "reason": reason})
}

func (h *handler) getSettings(w *recorder, r *http.Request, user string) {
	if h.cfg.Consent == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Settings store is not configured")
		return
	}
	allow, err := h.cfg.Consent.AllowGatewayFallback(r.Context(), user)
	if errors.Is(err, resolve.ErrNotFound) {
		allow, err = true, nil // the database default
	}
	if err != nil {
		w.fail(http.StatusInternalServerError, codeSettingsUnavailable, "Settings store unavailable")
		return
	}
	w.json(http.StatusOK, map[string]bool{"allowGatewayFallback": allow})
}

func (h *handler) setSettings(w *recorder, r *http.Request, user string) {
	if h.cfg.Consent == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Settings store is not configured")
		return
	}
	var req struct {
		Allow json.RawMessage `json:"allowGatewayFallback"`
	}
	if !decode(w, r, &req) {
		return
	}
	var allow bool
	switch string(req.Allow) {
	case "true":
		allow = true
	case "false":
	default:
		w.fail(http.StatusBadRequest, codeInvalidRequest, "allowGatewayFallback must be true or false")
		return
	}
	if err := h.cfg.Consent.SetAllowGatewayFallback(r.Context(), user, allow); err != nil {
		w.fail(http.StatusInternalServerError, codeSettingsUnavailable, "Settings store unavailable")
		return
	}
	h.invalidate(user)
	w.json(http.StatusOK, map[string]bool{"ok": true})
}

// resolved is the answer of GET /api/providers/resolve.
type resolved struct {
	Path          resolve.Path `json:"path"`
	Provider      providers.ID `json:"provider"`
	BaseURLHost   string       `json:"baseUrlHost"`
	BaseURLSource string       `json:"baseUrlSource"`
	Model         *string      `json:"model"`
}

func (h *handler) resolve(w *recorder, r *http.Request, user string) {
	if h.cfg.Resolver == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Resolver is not configured")
		return
	}
	var opts []resolve.CallOption
	if q := r.URL.Query(); q.Has("model") {
		opts = append(opts, resolve.WithModel(q.Get("model")))
	}
	p, path, err := h.cfg.Resolver.Resolve(r.Context(), user, opts...)
	if err != nil {
		var re *resolve.Error
		code := "error"
		if errors.As(err, &re) {
			code = re.Code()
		}
		if code == "invalid_model" {
			w.fail(http.StatusBadRequest, codeInvalidRequest, "Malformed model hint")
			return
		}
		w.code = codeProviderUnavailable + ":" + code
		w.json(http.StatusServiceUnavailable, map[string]string{"error": codeProviderUnavailable, "reason": code})
		return
	}
	out := resolved{Path: path, Provider: p.ID, BaseURLHost: p.BaseURLHost(), BaseURLSource: p.BaseURLSource}
	if p.Model != "" {
		out.Model = &p.Model
	}
	w.json(http.StatusOK, out)
}

func (h *handler) health(w *recorder, r *http.Request) {
	if h.cfg.HealthKey == "" || h.cfg.Health == nil {
		w.fail(http.StatusServiceUnavailable, codeHealthNotConfigured, "Health check is not configured")
		return
	}
	given := r.Header.Get("X-Internal-Key")
	if given == "" {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			given = strings.TrimSpace(token)
		}
	}
	if given == "" {
		w.fail(http.StatusUnauthorized, codeUnauthorized, "Operator key required")
		return
	}
	// Hashing first makes the comparison constant-time in the key's length too.
	sum := sha256.Sum256([]byte(given))
	if subtle.ConstantTimeCompare(sum[:], h.healthH[:]) != 1 {
		w.fail(http.StatusForbidden, codeForbidden, "Wrong operator key")
		return
	}
	if err := h.cfg.Health.Health(r.Context()); err != nil {
		w.fail(http.StatusServiceUnavailable, codeVaultUnavailable, "Vault health check failed")
		return
	}
	w.json(http.StatusOK, map[string]any{"status": "ok", "checks": map[string]string{"vault": "ok"}})
}

func (h *handler) invalidate(user string) {
	if h.cfg.Resolver != nil {
		h.cfg.Resolver.Invalidate(user)
	}
}
