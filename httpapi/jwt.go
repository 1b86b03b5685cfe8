package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/byok-go/byok/supabase"
)

// ErrUnauthorized is matched (errors.Is) by every error [JWTVerifier.Verify] and
// [JWTVerifier.Authenticate] return. The error's text names the reason ("missing bearer
// token", "expired", "bad signature", "anonymous user", ...) and never holds the token or
// any of its header or claim values.
var ErrUnauthorized = errors.New("httpapi: unauthorized")

// ErrInvalidJWTConfig is matched by the errors [NewJWTVerifier] and [SignDevToken] return
// for a configuration they refuse, a JWKS that cannot be used included.
var ErrInvalidJWTConfig = errors.New("httpapi: invalid JWT config")

// ErrJWKSUnavailable is matched, besides [ErrInvalidJWTConfig], by the error
// [NewJWTVerifier] returns when the JWKS cannot be fetched at construction or holds no
// usable signing key. Its text names the URL's host and path and what went wrong (an HTTP
// status, a timeout, not a JWK Set, no usable key); never a query, credentials or a token.
var ErrJWKSUnavailable = errors.New("httpapi: JWKS unavailable")

// MinJWTSecretLen is the shortest HS256 secret accepted. Supabase's legacy JWT secrets are
// at least 32 characters; anything shorter is a misconfiguration (or a guessable secret).
const MinJWTSecretLen = 32

// ClockLeeway is the clock skew between Supabase Auth and this server that [JWTVerifier]
// absorbs: a token is accepted until ClockLeeway after its exp, and from ClockLeeway before
// its nbf and iat.
const ClockLeeway = 30 * time.Second

// Verification policy. Supabase access tokens carry aud and role "authenticated" for signed-in
// users; anon and service_role keys are JWTs too, and are refused by the role check.
const (
	supabaseAudience = "authenticated"
	supabaseRole     = "authenticated"

	// maxTokenLen bounds the work done on a header before any parsing. Supabase access
	// tokens are well under 4 KiB even with user and app metadata.
	maxTokenLen = 16 << 10

	// defaultJWKSTimeout is the timeout of the default HTTP client and of each JWKS fetch
	// (the one in NewJWTVerifier and the periodic ones).
	defaultJWKSTimeout = 10 * time.Second

	// jwksRefreshInterval is how often the JWKS is re-fetched in the background. It bounds
	// how long a key removed from the JWKS (revoked) stays accepted when no unknown kid
	// forces an earlier fetch.
	jwksRefreshInterval = 10 * time.Minute

	// unknownKIDRefreshEvery is the least time between JWKS fetches triggered by a token
	// whose kid is not cached. unknownKIDWaitMax bounds how long one request spends on
	// such a fetch, waiting for the rate limit and fetching together. Because the wait
	// bound is shorter than the interval, at most one request at a time waits for the
	// next permitted fetch; every other token with an unknown kid is refused at once, so
	// a flood of forged kids costs the JWKS endpoint one request per interval and costs
	// this server no blocked goroutines beyond that one.
	unknownKIDRefreshEvery = 10 * time.Second
	unknownKIDWaitMax      = 5 * time.Second
)

// JWTConfig configures Supabase access-token verification: HS256 with the project's
// legacy JWT secret, asymmetric keys from the project's JWKS, or both.
type JWTConfig struct {
	// Secret is the project's legacy HS256 JWT secret, at least [MinJWTSecretLen] bytes.
	// Nil when only the JWKS is used.
	Secret []byte
	// JWKSURL is the project's key set, https://<ref>.supabase.co/auth/v1/.well-known/jwks.json.
	// It must be an absolute https URL (http only for a loopback host, unless AllowHTTPJWKS).
	// "" when only HS256 is used.
	JWKSURL string
	// Client fetches the JWKS. Nil means a client with a 10-second timeout.
	Client *http.Client
	// Issuer, when set, is the only "iss" accepted, compared exactly; a token without iss
	// is refused. Supabase Auth puts <SUPABASE_URL>/auth/v1 there. "" means iss is not
	// checked.
	Issuer string
	// AllowAnonymous accepts tokens of Supabase's anonymous sign-ins (is_anonymous true, or
	// an amr method "anonymous"). False, the default, refuses them: an anonymous identity
	// is free to create and throw away.
	AllowAnonymous bool
	// AllowClientTokens accepts tokens that Supabase Auth's OAuth server issued to a
	// third-party client (they carry client_id). False, the default, refuses them, so an
	// app the user authorized cannot manage the user's keys.
	AllowClientTokens bool
	// AllowHTTPJWKS accepts an http JWKSURL on any host, for a self-hosted stack whose Auth
	// is reached inside a private network (http://kong:8000/auth/v1/.well-known/jwks.json).
	// Off by default: over http on an open network, whoever can change the answer can mint
	// tokens.
	AllowHTTPJWKS bool
}

// Claims are what [JWTVerifier.Verify] reads from an accepted Supabase access token.
type Claims struct {
	UserID    string   // sub: the user's id, a lowercase UUID
	SessionID string   // session_id; "" when the token has none
	AAL       string   // aal: "aal1", or "aal2" after multi-factor authentication
	ClientID  string   // client_id of an OAuth client token (only with AllowClientTokens)
	Anonymous bool     // an anonymous sign-in (only with AllowAnonymous)
	Methods   []string // the amr methods: "password", "otp", "totp", "oauth", "anonymous", ...
}

// MFA reports whether the token's session passed multi-factor authentication (aal2, or
// Supabase's aal3).
func (c Claims) MFA() bool { return c.AAL == "aal2" || c.AAL == "aal3" }

// JWTVerifier authenticates requests carrying a Supabase access token: [JWTVerifier.Verify]
// returns the token's [Claims], [JWTVerifier.Authenticate] only the user id. It is safe for
// concurrent use.
//
// HS256 tokens are verified with [JWTConfig.Secret] only. RS256, ES256 and EdDSA tokens are
// verified only with the JWKS key named by their kid, and only when that key's type matches
// the algorithm; a symmetric key published in the JWKS is never used. Any other algorithm,
// "none" included, is refused.
//
// Verification is stateless: a token stays valid until its exp, after the user signs out
// too (Supabase's logout revokes the refresh token, not the access token already issued).
// Keep the project's access-token lifetime short where that matters.
//
// The JWKS is fetched once by [NewJWTVerifier], again every 10 minutes in the background,
// and on demand when a token names a kid that is not cached, at most once every 10 seconds.
// Each fetch replaces the cached set, so a key removed from the JWKS stops being accepted
// at the next fetch, and a key added is picked up by the first token that uses it.
type JWTVerifier struct {
	secret  []byte
	jwks    keyfunc.Keyfunc // nil without a JWKS URL
	parser  *jwt.Parser
	methods map[string]bool // accepted algorithms

	allowAnonymous, allowClients bool

	life context.Context // canceled by Close
	stop context.CancelFunc
}

// NewJWTVerifier returns a verifier for cfg. With a JWKS URL it fetches the key set before
// returning, waiting at most 10 seconds, and fails with an error matching
// [ErrJWKSUnavailable] when the set cannot be fetched (a wrong URL answers 404) or holds no
// usable signing key (RSA of at least 2048 bits, EC P-256 or Ed25519, for signatures). Call
// Close to stop the background refresh; a verifier with only a Secret starts none, and Close
// on it is harmless.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.Secret == nil && cfg.JWKSURL == "" {
		return nil, fmt.Errorf("%w: need a secret, a JWKS URL, or both", ErrInvalidJWTConfig)
	}
	if cfg.Secret != nil && len(cfg.Secret) < MinJWTSecretLen {
		return nil, fmt.Errorf("%w: secret shorter than %d bytes", ErrInvalidJWTConfig, MinJWTSecretLen)
	}
	if cfg.Issuer != strings.TrimSpace(cfg.Issuer) {
		return nil, fmt.Errorf("%w: issuer has surrounding white space", ErrInvalidJWTConfig)
	}
	if cfg.JWKSURL != "" {
		if err := checkJWKSURL(cfg.JWKSURL, cfg.AllowHTTPJWKS); err != nil {
			return nil, err
		}
	}
	v := &JWTVerifier{
		methods:        map[string]bool{},
		allowAnonymous: cfg.AllowAnonymous,
		allowClients:   cfg.AllowClientTokens,
	}
	v.life, v.stop = context.WithCancel(context.Background())
	if cfg.Secret != nil {
		v.secret = append([]byte(nil), cfg.Secret...)
		v.methods[jwt.SigningMethodHS256.Alg()] = true
	}
	if cfg.JWKSURL != "" {
		kf, err := newJWKS(v.life, cfg.JWKSURL, cfg.Client)
		if err != nil {
			v.stop()
			return nil, err
		}
		v.jwks = kf
		for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodES256, jwt.SigningMethodEdDSA} {
			v.methods[m.Alg()] = true
		}
	}
	valid := make([]string, 0, len(v.methods))
	for m := range v.methods {
		valid = append(valid, m)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(valid),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockLeeway),
		jwt.WithAudience(supabaseAudience),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// checkJWKSURL accepts an absolute https URL, or http to a loopback host (for tests and
// local Supabase), or http to any host when allowHTTP. Its errors never repeat the URL.
func checkJWKSURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: JWKS URL is not an absolute URL", ErrInvalidJWTConfig)
	}
	if u.User != nil {
		return fmt.Errorf("%w: JWKS URL must not carry credentials", ErrInvalidJWTConfig)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); allowHTTP || h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("%w: JWKS URL must use https (http only for loopback, or with AllowHTTPJWKS)", ErrInvalidJWTConfig)
	default:
		return fmt.Errorf("%w: JWKS URL must use https", ErrInvalidJWTConfig)
	}
}

// newJWKS builds the cached, self-refreshing key set; canceling ctx ends its refresh
// goroutine. It fetches the set once before returning and fails, with an error matching
// ErrJWKSUnavailable, when that fetch fails or the set holds no usable signing key.
func newJWKS(ctx context.Context, jwksURL string, client *http.Client) (keyfunc.Keyfunc, error) {
	if client == nil {
		client = &http.Client{Timeout: defaultJWKSTimeout}
	}
	// The status of the first fetch, for the error: jwkset reports it only in its text,
	// which also repeats the URL.
	status := &statusTransport{base: client.Transport}
	if status.base == nil {
		status.base = http.DefaultTransport
	}
	recording := *client
	recording.Transport = status
	remote, err := jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
		Client:              &recording,
		Ctx:                 ctx, // canceled by Close: ends the refresh goroutine
		HTTPTimeout:         defaultJWKSTimeout,
		RefreshErrorHandler: func(context.Context, error) {}, // never log; a failed fetch just keeps the cached keys
		RefreshInterval:     jwksRefreshInterval,             // starts the refresh goroutine
		// Skip keys jwkset cannot parse rather than the whole set; usableKeys then
		// requires at least one that verifies.
		RequireSupportedKeys: false,
	})
	if err != nil {
		return nil, jwksError(jwksURL, fetchFailure(err, status.last()))
	}
	if n, err := usableKeys(ctx, remote); err != nil || n == 0 {
		return nil, jwksError(jwksURL, "holds no usable signing key")
	}
	storage, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{jwksURL: remote},
		RateLimitWaitMax:  unknownKIDWaitMax,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKIDRefreshEvery), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS client", ErrInvalidJWTConfig)
	}
	kf, err := keyfunc.New(keyfunc.Options{
		Ctx:     ctx,
		Storage: storage,
		// A key published for encryption is never used to verify a signature.
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS keyfunc", ErrInvalidJWTConfig)
	}
	return kf, nil
}

// jwksError is the error of a JWKS that cannot be used: it names the URL's host and path
// and what went wrong, never the query (checkJWKSURL already refused credentials).
func jwksError(jwksURL, what string) error {
	where := "URL"
	if u, err := url.Parse(jwksURL); err == nil {
		where = u.Host + u.EscapedPath()
	}
	return &jwksErr{msg: "httpapi: JWKS " + where + " " + what}
}

// jwksErr matches both ErrInvalidJWTConfig and ErrJWKSUnavailable, with one message.
type jwksErr struct{ msg string }

func (e *jwksErr) Error() string   { return e.msg }
func (e *jwksErr) Unwrap() []error { return []error{ErrInvalidJWTConfig, ErrJWKSUnavailable} }

// fetchFailure says why the first JWKS fetch failed, in fixed words plus the HTTP status.
func fetchFailure(err error, status int) string {
	switch {
	case errors.Is(err, jwkset.ErrInvalidHTTPStatusCode) && status != 0:
		return fmt.Sprintf("answered HTTP %d, not 200", status)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("gave no answer within %s", defaultJWKSTimeout)
	case status == http.StatusOK:
		return "did not answer a JWK Set"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "gave no answer in time"
	}
	return "could not be fetched"
}

// usableKeys counts the keys of s that can verify a token: published for signatures (or
// without a use) and of a type an accepted algorithm takes.
func usableKeys(ctx context.Context, s jwkset.Storage) (int, error) {
	keys, err := s.KeyReadAll(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if use := k.Marshal().USE; use != jwkset.UseSig && use != "" {
			continue
		}
		for _, alg := range []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()} {
			if keyMatches(alg, k.Key()) {
				n++
				break
			}
		}
	}
	return n, nil
}

// statusTransport remembers the status of the last response it passed on (after a
// redirect, the final one).
type statusTransport struct {
	base   http.RoundTripper
	mu     sync.Mutex // guards status
	status int
}

func (t *statusTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		t.mu.Lock()
		t.status = resp.StatusCode
		t.mu.Unlock()
	}
	return resp, err
}

// last is the status of the last response, 0 if none came.
func (t *statusTransport) last() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.status
}

// Close stops the background JWKS refresh. Tokens verified after Close still use the cached
// keys but never trigger a fetch. Close is idempotent and always returns nil.
func (v *JWTVerifier) Close() error {
	v.stop()
	return nil
}

// tokenClaims is the part of a Supabase access token's payload this package reads. Every
// field is typed strictly: a claim of another JSON type makes the token malformed.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt numericDate      `json:"exp"`
	NotBefore numericDate      `json:"nbf"`
	IssuedAt  numericDate      `json:"iat"`

	Role        string     `json:"role"`
	SessionID   string     `json:"session_id"`
	AAL         string     `json:"aal"`
	AMR         []amrEntry `json:"amr"`
	IsAnonymous bool       `json:"is_anonymous"`
	ClientID    *string    `json:"client_id"` // non-nil when present, even empty
}

// amrEntry is one element of amr: {"method": "password", "timestamp": 1712345678}.
type amrEntry struct {
	Method string `json:"method"`
}

var _ jwt.Claims = (*tokenClaims)(nil)

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.d, nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.d, nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.d, nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// errNotNumericDate refuses an exp, nbf or iat that is not a JSON number: jwt's own
// NumericDate also takes a string such as "9999999999".
var errNotNumericDate = errors.New("time claim is not a number")

// numericDate is exp, nbf or iat: absent, or a JSON number of seconds. null, a string or
// any other type is an error.
type numericDate struct{ d *jwt.NumericDate }

func (n *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNotNumericDate
	}
	var d jwt.NumericDate
	if err := d.UnmarshalJSON(b); err != nil {
		return errNotNumericDate
	}
	n.d = &d
	return nil
}

// authError is a refusal; its reason is one of this file's fixed texts.
type authError struct{ reason string }

func (e *authError) Error() string { return ErrUnauthorized.Error() + ": " + e.reason }
func (e *authError) Unwrap() error { return ErrUnauthorized }

// refusalCode is the log code of a refusal: "unauthorized", and for this package's own
// refusals its reason, as in "unauthorized:anonymous_user".
func refusalCode(err error) string {
	var ae *authError
	if errors.As(err, &ae) {
		return codeUnauthorized + ":" + strings.ReplaceAll(ae.reason, " ", "_")
	}
	return codeUnauthorized
}

// reasonError carries a refusal reason out of the key function.
type reasonError string

func (e reasonError) Error() string { return string(e) }

// Authenticate returns the Supabase user id (the token's sub) of the request's bearer token,
// or an error matching [ErrUnauthorized]. It is [JWTVerifier.Verify] without the claims, for
// code of a service's own that needs only the user id; [Config] takes Verify.
func (v *JWTVerifier) Authenticate(r *http.Request) (userID string, err error) {
	c, err := v.Verify(r)
	return c.UserID, err
}

// Verify checks the request's bearer token and returns its claims, or an error matching
// [ErrUnauthorized] that says why. It requires a valid signature, exp (a number, not
// past), aud "authenticated", role "authenticated", a lowercase UUID sub and, with an
// Issuer, that iss; nbf and iat, when present, must be numbers and not in the future.
// [ClockLeeway] applies to exp, nbf and iat. Unless allowed by the config, it refuses
// anonymous users and OAuth client tokens.
func (v *JWTVerifier) Verify(r *http.Request) (Claims, error) {
	token, reason := bearerToken(r)
	if reason != "" {
		return Claims{}, unauthorized(reason)
	}
	var (
		tc         tokenClaims
		algAllowed bool // the parser got past its algorithm check and asked for a key
	)
	keyFunc := func(t *jwt.Token) (any, error) {
		algAllowed = true
		return v.key(r.Context(), t)
	}
	if _, err := v.parser.ParseWithClaims(token, &tc, keyFunc); err != nil {
		return Claims{}, unauthorized(parseReason(err, algAllowed))
	}
	if tc.Role != supabaseRole {
		return Claims{}, unauthorized("wrong role")
	}
	if !supabase.ValidUserID(tc.Subject) {
		return Claims{}, unauthorized("subject is not a lowercase UUID")
	}
	c := Claims{
		UserID:    tc.Subject,
		SessionID: tc.SessionID,
		AAL:       tc.AAL,
		Anonymous: tc.IsAnonymous,
		Methods:   make([]string, 0, len(tc.AMR)),
	}
	for _, m := range tc.AMR {
		c.Methods = append(c.Methods, m.Method)
		if m.Method == "anonymous" {
			c.Anonymous = true
		}
	}
	if tc.ClientID != nil {
		c.ClientID = *tc.ClientID
	}
	switch {
	case c.Anonymous && !v.allowAnonymous:
		return Claims{}, unauthorized("anonymous user")
	case tc.ClientID != nil && !v.allowClients:
		return Claims{}, unauthorized("oauth client token")
	}
	return c, nil
}

func unauthorized(reason string) error { return &authError{reason: reason} }

// bearerToken extracts the token of a single "Authorization: Bearer <token>" header
// (scheme case-insensitive), or says why there is none.
func bearerToken(r *http.Request) (token, reason string) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return "", "missing bearer token"
	case len(hs) > 1:
		return "", "more than one authorization header"
	}
	scheme, rest, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		if strings.EqualFold(strings.TrimSpace(hs[0]), "Bearer") {
			return "", "missing bearer token"
		}
		return "", "not a bearer token"
	}
	token = strings.Trim(rest, " ")
	switch {
	case token == "":
		return "", "missing bearer token"
	case strings.ContainsAny(token, " \t"):
		return "", "more than one bearer token"
	case len(token) > maxTokenLen:
		return "", "token too long"
	}
	return token, ""
}

// key chooses the verification key by algorithm: the secret for HS256; for the asymmetric
// algorithms, the JWKS key named by kid, and only if its type matches. The parser has
// already refused any algorithm outside v.methods; the check here keeps that true should
// the parser options change.
func (v *JWTVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !v.methods[alg] {
		return nil, reasonError("algorithm not accepted")
	}
	if alg == jwt.SigningMethodHS256.Alg() {
		return v.secret, nil
	}
	// Asymmetric: only ever a JWKS key. Supabase always names the key; without a kid there
	// is nothing to look up, and trying every cached key is not worth the ambiguity.
	if kid, ok := t.Header["kid"].(string); !ok || kid == "" {
		return nil, reasonError("missing key id")
	}
	if v.life.Err() != nil {
		// Closed: a cached key is still found, but an unknown kid cannot start a fetch
		// (the rate-limit wait fails at once on a canceled context).
		ctx = v.life
	}
	key, err := v.jwks.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil, reasonError("unknown signing key")
	}
	if !keyMatches(alg, key) {
		return nil, reasonError("key type does not match algorithm")
	}
	return key, nil
}

// keyMatches reports whether key is a public key of the type alg requires (RSA keys of at
// least 2048 bits; ES256 on P-256).
func keyMatches(alg string, key any) bool {
	switch alg {
	case jwt.SigningMethodRS256.Alg():
		k, ok := key.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= 2048
	case jwt.SigningMethodES256.Alg():
		k, ok := key.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P256()
	case jwt.SigningMethodEdDSA.Alg():
		k, ok := key.(ed25519.PublicKey)
		return ok && len(k) == ed25519.PublicKeySize
	}
	return false
}

// parseReason names why the parser refused a token, most fundamental cause first (the
// parser joins several claim errors). The texts are fixed: jwt's own messages can quote
// header values. algAllowed tells a refused algorithm from a bad signature, which the
// parser reports with the same error.
func parseReason(err error, algAllowed bool) string {
	var re reasonError
	switch {
	case errors.As(err, &re):
		return string(re)
	case errors.Is(err, errNotNumericDate):
		return "time claim is not a number"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if algAllowed {
			return "bad signature"
		}
		return "algorithm not accepted"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "missing required claim"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer"
	}
	return "invalid token"
}

// SignDevToken returns an HS256 token shaped like a Supabase access token after a password
// sign-in (sub userID, role and aud "authenticated", iat now, exp now+ttl, aal "aal1", amr
// password, a random session_id, is_anonymous false; no iss) signed with secret, which a
// verifier configured with the same secret and no Issuer accepts. It is for development and
// tests: real tokens come from Supabase Auth.
func SignDevToken(secret []byte, userID string, ttl time.Duration) (string, error) {
	switch {
	case len(secret) < MinJWTSecretLen:
		return "", fmt.Errorf("%w: secret shorter than %d bytes", ErrInvalidJWTConfig, MinJWTSecretLen)
	case !supabase.ValidUserID(userID):
		return "", errors.New("httpapi: dev token user id is not a lowercase UUID")
	case ttl <= 0:
		return "", errors.New("httpapi: dev token ttl must be positive")
	}
	var sid [16]byte
	if _, err := rand.Read(sid[:]); err != nil {
		return "", err
	}
	sid[6], sid[8] = sid[6]&0x0f|0x40, sid[8]&0x3f|0x80
	h := hex.EncodeToString(sid[:])
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":          userID,
		"role":         supabaseRole,
		"aud":          supabaseAudience,
		"iat":          now.Unix(),
		"exp":          now.Add(ttl).Unix(),
		"aal":          "aal1",
		"amr":          []map[string]any{{"method": "password", "timestamp": now.Unix()}},
		"session_id":   h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:],
		"is_anonymous": false,
	})
	return t.SignedString(secret)
}
