package httpapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/byok-go/byok/supabase"
)

// ErrUnauthorized is matched (errors.Is) by every error [JWTVerifier.Authenticate] returns.
// The error's text names the reason ("missing bearer token", "expired", "bad signature", ...)
// and never holds the token or any of its header or claim values.
var ErrUnauthorized = errors.New("httpapi: unauthorized")

// ErrInvalidJWTConfig is matched by the errors [NewJWTVerifier] and [SignDevToken] return
// for a configuration they refuse.
var ErrInvalidJWTConfig = errors.New("httpapi: invalid JWT config")

// MinJWTSecretLen is the shortest HS256 secret accepted. Supabase's legacy JWT secrets are
// at least 32 characters; anything shorter is a misconfiguration (or a guessable secret).
const MinJWTSecretLen = 32

// Verification policy. Supabase access tokens carry aud and role "authenticated" for signed-in
// users; anon and service_role keys are JWTs too, and are refused by the role check.
const (
	supabaseAudience = "authenticated"
	supabaseRole     = "authenticated"

	// clockLeeway absorbs clock skew between Supabase Auth and this server for exp, nbf and iat.
	clockLeeway = 30 * time.Second

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
	// It must be an absolute https URL (http only for a loopback host). "" when only HS256 is used.
	JWKSURL string
	// Client fetches the JWKS. Nil means a client with a 10-second timeout.
	Client *http.Client
}

// JWTVerifier authenticates requests carrying a Supabase access token. It is safe for
// concurrent use.
//
// HS256 tokens are verified with [JWTConfig.Secret] only. RS256, ES256 and EdDSA tokens are
// verified only with the JWKS key named by their kid, and only when that key's type matches
// the algorithm; a symmetric key published in the JWKS is never used. Any other algorithm,
// "none" included, is refused.
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

	life context.Context // canceled by Close
	stop context.CancelFunc
}

// NewJWTVerifier returns a verifier for cfg. With a JWKS URL it fetches the key set before
// returning, waiting at most 10 seconds; if that fetch fails it still returns, and tokens are
// refused until a later fetch succeeds. Call Close to stop the background refresh; a verifier
// with only a Secret starts none, and Close on it is harmless.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.Secret == nil && cfg.JWKSURL == "" {
		return nil, fmt.Errorf("%w: need a secret, a JWKS URL, or both", ErrInvalidJWTConfig)
	}
	if cfg.Secret != nil && len(cfg.Secret) < MinJWTSecretLen {
		return nil, fmt.Errorf("%w: secret shorter than %d bytes", ErrInvalidJWTConfig, MinJWTSecretLen)
	}
	if cfg.JWKSURL != "" {
		if err := checkJWKSURL(cfg.JWKSURL); err != nil {
			return nil, err
		}
	}
	v := &JWTVerifier{methods: map[string]bool{}}
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
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(valid),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockLeeway),
		jwt.WithAudience(supabaseAudience),
	)
	return v, nil
}

// checkJWKSURL accepts an absolute https URL, or http to a loopback host (for tests and
// local Supabase). Its errors never repeat the URL.
func checkJWKSURL(raw string) error {
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
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("%w: JWKS URL must use https (http only for loopback)", ErrInvalidJWTConfig)
	default:
		return fmt.Errorf("%w: JWKS URL must use https", ErrInvalidJWTConfig)
	}
}

// newJWKS builds the cached, self-refreshing key set; canceling ctx ends its refresh goroutine.
func newJWKS(ctx context.Context, jwksURL string, client *http.Client) (keyfunc.Keyfunc, error) {
	if client == nil {
		client = &http.Client{Timeout: defaultJWKSTimeout}
	}
	remote, err := jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
		Client:                    client,
		Ctx:                       ctx, // canceled by Close: ends the refresh goroutine
		HTTPTimeout:               defaultJWKSTimeout,
		NoErrorReturnFirstHTTPReq: true,                            // an unreachable JWKS refuses tokens, not construction
		RefreshErrorHandler:       func(context.Context, error) {}, // never log; a failed fetch just keeps the cached keys
		RefreshInterval:           jwksRefreshInterval,             // starts the refresh goroutine
		RequireSupportedKeys:      false,                           // skip keys jwkset cannot parse rather than the whole set
	})
	if err != nil {
		return nil, fmt.Errorf("%w: JWKS URL not usable", ErrInvalidJWTConfig) // err repeats the URL
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

// Close stops the background JWKS refresh. Tokens verified after Close still use the cached
// keys but never trigger a fetch. Close is idempotent and always returns nil.
func (v *JWTVerifier) Close() error {
	v.stop()
	return nil
}

// supabaseClaims is the part of a Supabase access token's payload this package checks.
type supabaseClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role"`
}

// reasonError carries a refusal reason out of the key function.
type reasonError string

func (e reasonError) Error() string { return string(e) }

// Authenticate returns the Supabase user id (the token's sub) of the request's bearer token,
// or an error matching [ErrUnauthorized].
func (v *JWTVerifier) Authenticate(r *http.Request) (userID string, err error) {
	token, reason := bearerToken(r)
	if reason != "" {
		return "", unauthorized(reason)
	}
	var (
		claims     supabaseClaims
		algAllowed bool // the parser got past its algorithm check and asked for a key
	)
	keyFunc := func(t *jwt.Token) (any, error) {
		algAllowed = true
		return v.key(r.Context(), t)
	}
	if _, err := v.parser.ParseWithClaims(token, &claims, keyFunc); err != nil {
		return "", unauthorized(parseReason(err, algAllowed))
	}
	if claims.Role != supabaseRole {
		return "", unauthorized("wrong role")
	}
	if !supabase.ValidUserID(claims.Subject) {
		return "", unauthorized("subject is not a lowercase UUID")
	}
	return claims.Subject, nil
}

func unauthorized(reason string) error { return fmt.Errorf("%w: %s", ErrUnauthorized, reason) }

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
	}
	return "invalid token"
}

// SignDevToken returns an HS256 token shaped like a Supabase access token (sub userID, role
// and aud "authenticated", iat now, exp now+ttl) signed with secret, which a verifier
// configured with the same secret accepts. It is for development and tests: real tokens
// come from Supabase Auth.
func SignDevToken(secret []byte, userID string, ttl time.Duration) (string, error) {
	switch {
	case len(secret) < MinJWTSecretLen:
		return "", fmt.Errorf("%w: secret shorter than %d bytes", ErrInvalidJWTConfig, MinJWTSecretLen)
	case !supabase.ValidUserID(userID):
		return "", errors.New("httpapi: dev token user id is not a lowercase UUID")
	case ttl <= 0:
		return "", errors.New("httpapi: dev token ttl must be positive")
	}
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":  userID,
		"role": supabaseRole,
		"aud":  supabaseAudience,
		"iat":  now.Unix(),
		"exp":  now.Add(ttl).Unix(),
	})
	return t.SignedString(secret)
}
