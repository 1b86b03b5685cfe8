package httpapi_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
)

const (
	testUserID = "8d0f6a52-3c1e-4d8a-9b7f-2e5c4a1b0c9d"
	jwksPath   = "/auth/v1/.well-known/jwks.json"
)

var testSecret = []byte("super-secret-jwt-token-with-at-least-32-characters-long")

// Keys are generated once: RSA generation is slow under -race.
var (
	rsaKey   = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	rsaKey2  = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey    = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	ecKey2   = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	edKey    = sync.OnceValue(func() ed25519.PrivateKey { _, k := must2(ed25519.GenerateKey(rand.Reader)); return k })
	strayKey = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// jwksServer serves a replaceable JWK Set and counts the fetches.
type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	set     jwkset.JWKSMarshal // guarded by mu
	down    bool               // guarded by mu; answer 503
}

func newJWKSServer(t *testing.T, keys ...jwkset.JWK) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.publish(keys...)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != jwksPath {
			http.NotFound(w, r)
			return
		}
		s.fetches.Add(1)
		s.mu.Lock()
		down, set := s.down, s.set
		s.mu.Unlock()
		if down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) url() string { return s.srv.URL + jwksPath }

func (s *jwksServer) publish(keys ...jwkset.JWK) {
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.Marshal())
	}
	s.mu.Lock()
	s.set = set
	s.mu.Unlock()
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// publicJWK is the JWK a Supabase project publishes for key: public part, kid, alg, use sig.
func publicJWK(t *testing.T, key crypto.Signer, kid string, alg jwkset.ALG) jwkset.JWK {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig},
	})
	require.NoError(t, err)
	return jwk
}

func newVerifier(t *testing.T, cfg httpapi.JWTConfig) *httpapi.JWTVerifier {
	t.Helper()
	v, err := httpapi.NewJWTVerifier(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, v.Close()) })
	return v
}

const (
	testIssuer  = "https://example.supabase.co/auth/v1"
	testSession = "3b1f0c52-8a4e-4e7b-9d7e-1c2b3a4d5e6f"
)

// claims are those of a valid Supabase access token for testUserID.
func claims() jwt.MapClaims { return gotrueClaims(testUserID) }

// gotrueClaims are the claims Supabase Auth (GoTrue v2.196) puts in the access token of a
// user signed in with a password, claim for claim.
func gotrueClaims(sub string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":          testIssuer,
		"sub":          sub,
		"aud":          "authenticated",
		"exp":          now.Add(time.Hour).Unix(),
		"iat":          now.Unix(),
		"email":        "user@example.com",
		"phone":        "",
		"app_metadata": map[string]any{"provider": "email", "providers": []string{"email"}},
		"user_metadata": map[string]any{
			"email": "user@example.com", "email_verified": true, "phone_verified": false, "sub": sub,
		},
		"role":         "authenticated",
		"aal":          "aal1",
		"amr":          []map[string]any{{"method": "password", "timestamp": now.Add(-time.Minute).Unix()}},
		"session_id":   testSession,
		"is_anonymous": false,
	}
}

// mfaClaims are gotrueClaims after a TOTP step-up: aal2, totp first in amr.
func mfaClaims(sub string) jwt.MapClaims {
	now := time.Now().Unix()
	c := gotrueClaims(sub)
	c["aal"] = "aal2"
	c["amr"] = []map[string]any{{"method": "totp", "timestamp": now}, {"method": "password", "timestamp": now - 60}}
	return c
}

// anonymousClaims are those of a Supabase anonymous sign-in.
func anonymousClaims(sub string) jwt.MapClaims {
	now := time.Now().Unix()
	c := gotrueClaims(sub)
	c["email"] = ""
	c["app_metadata"] = map[string]any{}
	c["user_metadata"] = map[string]any{}
	c["amr"] = []map[string]any{{"method": "anonymous", "timestamp": now}}
	c["is_anonymous"] = true
	return c
}

// clientClaims are those of a token Supabase Auth's OAuth server issued to a third-party
// client for the user: the user's own aud and role, plus client_id and scope.
func clientClaims(sub string) jwt.MapClaims {
	c := gotrueClaims(sub)
	c["client_id"] = "9a5b1c2d-7e8f-4a0b-9c1d-2e3f4a5b6c7d"
	c["scope"] = "openid email profile"
	return c
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}

func without(c jwt.MapClaims, k string) jwt.MapClaims {
	delete(c, k)
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func bearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/keys", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// requireUnauthorized checks err is a refusal whose text holds none of secrets.
func requireUnauthorized(t *testing.T, err error, secrets ...string) {
	t.Helper()
	require.ErrorIs(t, err, httpapi.ErrUnauthorized)
	for _, s := range secrets {
		if s != "" {
			assert.NotContains(t, err.Error(), s)
		}
	}
}

func TestJWTVerifier_HS256(t *testing.T) {
	v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", claims())

	id, err := v.Authenticate(bearer(tok))
	require.NoError(t, err)
	assert.Equal(t, testUserID, id)

	t.Run("scheme is case-insensitive", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "bEaReR "+tok)
		id, err := v.Authenticate(r)
		require.NoError(t, err)
		assert.Equal(t, testUserID, id)
	})
	t.Run("a kid header does not matter to HS256", func(t *testing.T) {
		id, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "legacy", claims())))
		require.NoError(t, err)
		assert.Equal(t, testUserID, id)
	})
	t.Run("aud as an array containing authenticated", func(t *testing.T) {
		c := with(claims(), "aud", []string{"other", "authenticated"})
		id, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", c)))
		require.NoError(t, err)
		assert.Equal(t, testUserID, id)
	})
	t.Run("clock skew within the leeway", func(t *testing.T) {
		now := time.Now()
		c := claims()
		c["exp"] = now.Add(-10 * time.Second).Unix()
		c["iat"] = now.Add(10 * time.Second).Unix()
		c["nbf"] = now.Add(10 * time.Second).Unix()
		_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", c)))
		require.NoError(t, err)
	})
}

func TestSignDevToken(t *testing.T) {
	v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret})
	tok, err := httpapi.SignDevToken(testSecret, testUserID, time.Minute)
	require.NoError(t, err)
	id, err := v.Authenticate(bearer(tok))
	require.NoError(t, err)
	assert.Equal(t, testUserID, id)

	_, err = httpapi.SignDevToken([]byte("short"), testUserID, time.Minute)
	require.ErrorIs(t, err, httpapi.ErrInvalidJWTConfig)
	_, err = httpapi.SignDevToken(testSecret, strings.ToUpper(testUserID), time.Minute)
	require.Error(t, err)
	_, err = httpapi.SignDevToken(testSecret, testUserID, 0)
	require.Error(t, err)
}

func TestJWTVerifier_JWKS(t *testing.T) {
	srv := newJWKSServer(t,
		publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256),
		publicJWK(t, rsaKey(), "rsa-1", jwkset.AlgRS256),
		publicJWK(t, edKey(), "ed-1", jwkset.AlgEdDSA),
		publicJWK(t, rsaKey(), "rsa-no-alg", ""),
	)
	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
	for _, tc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"ES256", jwt.SigningMethodES256, ecKey(), "ec-1"},
		{"RS256", jwt.SigningMethodRS256, rsaKey(), "rsa-1"},
		{"EdDSA", jwt.SigningMethodEdDSA, edKey(), "ed-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Authenticate(bearer(sign(t, tc.method, tc.key, tc.kid, claims())))
			require.NoError(t, err)
			assert.Equal(t, testUserID, id)
		})
	}
	t.Run("a key under another key's kid", func(t *testing.T) {
		_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "rsa-1", claims())))
		requireUnauthorized(t, err)
	})
	t.Run("an ES256 token naming an RSA key that declares no alg", func(t *testing.T) {
		_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "rsa-no-alg", claims())))
		requireUnauthorized(t, err)
		id, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-no-alg", claims())))
		require.NoError(t, err)
		assert.Equal(t, testUserID, id)
	})
	t.Run("an asymmetric token without a kid", func(t *testing.T) {
		_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "", claims())))
		requireUnauthorized(t, err)
	})
	t.Run("signed by a key not in the set", func(t *testing.T) {
		_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, strayKey(), "ec-1", claims())))
		requireUnauthorized(t, err)
	})
	assert.Equal(t, int64(1), srv.fetches.Load(), "known kids are served from the cache")
}

func TestJWTVerifier_cachesJWKS(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
	tok := sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())
	for range 200 {
		_, err := v.Authenticate(bearer(tok))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), srv.fetches.Load())
}

func TestJWTVerifier_unknownKIDFloodFetchesOnce(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
	require.Equal(t, int64(1), srv.fetches.Load(), "fetched once at construction")

	forged := make([]string, 100)
	for i := range forged {
		forged[i] = sign(t, jwt.SigningMethodES256, strayKey(), fmt.Sprintf("forged-%d", i), claims())
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, tok := range forged {
		wg.Go(func() {
			_, err := v.Authenticate(bearer(tok))
			requireUnauthorized(t, err, tok, "forged-")
		})
	}
	wg.Wait()
	// The first unknown kid may fetch; the rest are refused without waiting for the
	// rate limit, let alone fetching.
	assert.Equal(t, int64(2), srv.fetches.Load())
	assert.Less(t, time.Since(start), 3*time.Second)

	_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())))
	require.NoError(t, err, "known keys still verify")
	assert.Equal(t, int64(2), srv.fetches.Load())
}

// Rotation as Supabase does it: the new key is published, tokens move to it, the old key is
// removed. Each fetch replaces the whole cached set.
func TestJWTVerifier_keyRotation(t *testing.T) {
	oldJWK := publicJWK(t, ecKey(), "key-old", jwkset.AlgES256)
	newJWK := publicJWK(t, ecKey2(), "key-new", jwkset.AlgES256)
	oldTok := sign(t, jwt.SigningMethodES256, ecKey(), "key-old", claims())
	newTok := sign(t, jwt.SigningMethodES256, ecKey2(), "key-new", claims())

	t.Run("new kid is fetched and the removed key refused after that fetch", func(t *testing.T) {
		srv := newJWKSServer(t, oldJWK)
		v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
		_, err := v.Authenticate(bearer(oldTok))
		require.NoError(t, err)

		srv.publish(newJWK)
		_, err = v.Authenticate(bearer(oldTok))
		require.NoError(t, err, "a removed key stays accepted until the next fetch")
		assert.Equal(t, int64(1), srv.fetches.Load())

		id, err := v.Authenticate(bearer(newTok))
		require.NoError(t, err, "an unknown kid triggers a fetch")
		assert.Equal(t, testUserID, id)
		assert.Equal(t, int64(2), srv.fetches.Load())

		_, err = v.Authenticate(bearer(oldTok))
		requireUnauthorized(t, err, oldTok)
		assert.Equal(t, int64(2), srv.fetches.Load(), "the old kid is now unknown, and refetching is rate-limited")
	})
	t.Run("both keys published: both accepted", func(t *testing.T) {
		srv := newJWKSServer(t, oldJWK)
		v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
		srv.publish(oldJWK, newJWK)
		_, err := v.Authenticate(bearer(newTok))
		require.NoError(t, err)
		_, err = v.Authenticate(bearer(oldTok))
		require.NoError(t, err)
		assert.Equal(t, int64(2), srv.fetches.Load())
	})
}

// After construction, a JWKS that goes down leaves the cached keys in use; a token naming
// an unknown kid is refused after one fetch attempt.
func TestJWTVerifier_JWKSDownAfterConstruction(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
	srv.setDown(true)
	_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())))
	require.NoError(t, err, "cached keys keep verifying")
	_, err = v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey2(), "ec-2", claims())))
	requireUnauthorized(t, err)
	assert.Equal(t, int64(2), srv.fetches.Load(), "construction and the unknown kid each tried once")
}

func TestJWTVerifier_rejects(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, rsaKey(), "rsa-1", jwkset.AlgRS256))
	v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret, JWKSURL: srv.url()})
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", c) }
	now := time.Now()

	valid := hs(claims())
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		must(json.Marshal(with(claims(), "sub", "0b8e7a1c-5d2f-4e6a-8c3b-9f1d2e3a4b5c")))) + "." + parts[2]
	none := must(jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType))
	noneStripped := parts[0] + "." + parts[1] + "."

	for _, tc := range []struct {
		name   string
		header []string // Authorization values
	}{
		{"missing header", nil},
		{"empty header", []string{""}},
		{"scheme only", []string{"Bearer"}},
		{"scheme and space", []string{"Bearer "}},
		{"basic scheme", []string{"Basic " + valid}},
		{"token without scheme", []string{valid}},
		{"two tokens", []string{"Bearer " + valid + " " + valid}},
		{"two headers", []string{"Bearer " + valid, "Bearer " + valid}},
		{"garbage", []string{"Bearer not-a-jwt"}},
		{"three garbage segments", []string{"Bearer a.b.c"}},
		{"oversized", []string{"Bearer " + strings.Repeat("a", 20000)}},
		{"tampered payload", []string{"Bearer " + tampered}},
		{"alg none", []string{"Bearer " + none}},
		{"valid header and payload, no signature", []string{"Bearer " + noneStripped}},
		{"expired", []string{"Bearer " + hs(with(claims(), "exp", now.Add(-2*time.Minute).Unix()))}},
		{"no exp", []string{"Bearer " + hs(without(claims(), "exp"))}},
		{"iat in the future", []string{"Bearer " + hs(with(claims(), "iat", now.Add(2*time.Minute).Unix()))}},
		{"nbf in the future", []string{"Bearer " + hs(with(claims(), "nbf", now.Add(2*time.Minute).Unix()))}},
		{"wrong aud", []string{"Bearer " + hs(with(claims(), "aud", "other-audience"))}},
		{"aud array without authenticated", []string{"Bearer " + hs(with(claims(), "aud", []string{"x-aud", "y-aud"}))}},
		{"no aud", []string{"Bearer " + hs(without(claims(), "aud"))}},
		{"role anon", []string{"Bearer " + hs(with(claims(), "role", "anon"))}},
		{"role service_role", []string{"Bearer " + hs(with(claims(), "role", "service_role"))}},
		{"no role", []string{"Bearer " + hs(without(claims(), "role"))}},
		{"non-UUID sub", []string{"Bearer " + hs(with(claims(), "sub", "user-123"))}},
		{"uppercase UUID sub", []string{"Bearer " + hs(with(claims(), "sub", strings.ToUpper(testUserID)))}},
		{"braced UUID sub", []string{"Bearer " + hs(with(claims(), "sub", "{"+testUserID+"}"))}},
		{"no sub", []string{"Bearer " + hs(without(claims(), "sub"))}},
		{"HS384", []string{"Bearer " + sign(t, jwt.SigningMethodHS384, testSecret, "", claims())}},
		{"PS256 with the JWKS RSA key", []string{"Bearer " + sign(t, jwt.SigningMethodPS256, rsaKey(), "rsa-1", claims())}},
		{"RS256 by another key", []string{"Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey2(), "rsa-1", claims())}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/keys", nil)
			for _, h := range tc.header {
				r.Header.Add("Authorization", h)
			}
			id, err := v.Authenticate(r)
			assert.Empty(t, id)
			leaks := []string{testUserID, strings.ToUpper(testUserID), "user-123", "other-audience", "x-aud", "service_role", "anon"}
			for _, h := range tc.header {
				if tok := strings.TrimPrefix(h, "Bearer "); len(tok) > 8 {
					leaks = append(leaks, tok, strings.Split(tok, ".")[0])
				}
			}
			requireUnauthorized(t, err, leaks...)
		})
	}
}

func TestJWTVerifier_algorithmNotConfigured(t *testing.T) {
	t.Run("HS256 with only a JWKS", func(t *testing.T) {
		srv := newJWKSServer(t, publicJWK(t, rsaKey(), "rsa-1", jwkset.AlgRS256))
		v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
		tok := sign(t, jwt.SigningMethodHS256, testSecret, "rsa-1", claims())
		_, err := v.Authenticate(bearer(tok))
		requireUnauthorized(t, err, tok)
	})
	t.Run("RS256 with only a secret", func(t *testing.T) {
		v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret})
		tok := sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims())
		_, err := v.Authenticate(bearer(tok))
		requireUnauthorized(t, err, tok)
	})
}

// The classic confusion: an attacker who knows the RSA public key signs an HS256 token with
// its bytes as the HMAC secret, hoping the verifier feeds the key it found by kid to HMAC.
func TestJWTVerifier_HS256SignedWithPublicKeyRefused(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, rsaKey(), "rsa-1", jwkset.AlgRS256))
	pubDER := must(x509.MarshalPKIXPublicKey(&rsaKey().PublicKey))
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)})
	jwkJSON := must(json.Marshal(publicJWK(t, rsaKey(), "rsa-1", jwkset.AlgRS256).Marshal()))

	for _, cfg := range []struct {
		name string
		cfg  httpapi.JWTConfig
	}{
		{"JWKS only", httpapi.JWTConfig{JWKSURL: srv.url()}},
		{"JWKS and secret", httpapi.JWTConfig{JWKSURL: srv.url(), Secret: testSecret}},
	} {
		v := newVerifier(t, cfg.cfg)
		for name, secret := range map[string][]byte{"PKIX PEM": pubPEM, "PKCS1 PEM": pkcs1PEM, "DER": pubDER, "JWK JSON": jwkJSON} {
			t.Run(cfg.name+"/"+name, func(t *testing.T) {
				for _, kid := range []string{"rsa-1", ""} {
					tok := sign(t, jwt.SigningMethodHS256, secret, kid, claims())
					_, err := v.Authenticate(bearer(tok))
					requireUnauthorized(t, err, tok)
				}
			})
		}
	}
}

// A symmetric key published in the JWKS is never a verification key, for HS256 or otherwise.
func TestJWTVerifier_JWKSSymmetricKeyIgnored(t *testing.T) {
	octSecret := []byte("published-symmetric-key-0123456789abcdef")
	oct, err := jwkset.NewJWKFromKey(octSecret, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{KID: "oct-1", ALG: jwkset.AlgHS256},
	})
	require.NoError(t, err)
	srv := newJWKSServer(t, oct, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url(), Secret: testSecret})

	tok := sign(t, jwt.SigningMethodHS256, octSecret, "oct-1", claims())
	_, err = v.Authenticate(bearer(tok))
	requireUnauthorized(t, err, tok)

	_, err = v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())))
	require.NoError(t, err, "the rest of the set is still used")
}

func TestJWTVerifier_encryptionKeyIgnored(t *testing.T) {
	enc, err := jwkset.NewJWKFromKey(ecKey().Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "ec-enc", USE: jwkset.UseEnc},
	})
	require.NoError(t, err)
	srv := newJWKSServer(t, enc, publicJWK(t, ecKey2(), "ec-2", jwkset.AlgES256))
	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
	_, err = v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "ec-enc", claims())))
	requireUnauthorized(t, err)
}

func TestNewJWTVerifier_rejectsConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  httpapi.JWTConfig
	}{
		{"nothing", httpapi.JWTConfig{}},
		{"empty secret", httpapi.JWTConfig{Secret: []byte{}}},
		{"short secret", httpapi.JWTConfig{Secret: []byte("0123456789abcdef0123456789abcde")}},
		{"relative URL", httpapi.JWTConfig{JWKSURL: "/auth/v1/.well-known/jwks.json"}},
		{"no scheme", httpapi.JWTConfig{JWKSURL: "example.supabase.co/auth/v1/.well-known/jwks.json"}},
		{"http to a public host", httpapi.JWTConfig{JWKSURL: "http://example.supabase.co/auth/v1/.well-known/jwks.json"}},
		{"http to a private address", httpapi.JWTConfig{JWKSURL: "http://10.0.0.1/jwks.json"}},
		{"ftp", httpapi.JWTConfig{JWKSURL: "ftp://example.supabase.co/jwks.json"}},
		{"credentials in URL", httpapi.JWTConfig{JWKSURL: "https://user:pw@example.supabase.co/jwks.json"}},
		{"unparsable", httpapi.JWTConfig{JWKSURL: "https://exa mple.supabase.co/%zz"}},
		{"good URL but short secret", httpapi.JWTConfig{JWKSURL: "https://example.supabase.co/jwks.json", Secret: []byte("short")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := httpapi.NewJWTVerifier(tc.cfg)
			require.ErrorIs(t, err, httpapi.ErrInvalidJWTConfig)
			assert.Nil(t, v)
			assert.NotContains(t, err.Error(), "pw@")
			assert.NotContains(t, err.Error(), "example.supabase.co")
		})
	}
	t.Run("minimum secret and loopback http accepted", func(t *testing.T) {
		srv := newJWKSServer(t, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
		newVerifier(t, httpapi.JWTConfig{Secret: testSecret[:httpapi.MinJWTSecretLen], JWKSURL: srv.url()})
		newVerifier(t, httpapi.JWTConfig{JWKSURL: strings.Replace(srv.url(), "127.0.0.1", "localhost", 1)})
	})
}

func TestJWTVerifier_usesConfiguredClient(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
	var used atomic.Int64
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url(), Client: client})
	_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())))
	require.NoError(t, err)
	assert.Equal(t, int64(1), used.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestJWTVerifier_concurrent(t *testing.T) {
	srv := newJWKSServer(t,
		publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256),
		publicJWK(t, rsaKey(), "rsa-1", jwkset.AlgRS256),
	)
	v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret, JWKSURL: srv.url()})
	good := []string{
		sign(t, jwt.SigningMethodHS256, testSecret, "", claims()),
		sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims()),
		sign(t, jwt.SigningMethodRS256, rsaKey(), "rsa-1", claims()),
	}
	bad := []string{
		sign(t, jwt.SigningMethodHS256, testSecret, "", with(claims(), "role", "anon")),
		sign(t, jwt.SigningMethodES256, strayKey(), "unknown-kid", claims()),
		"garbage",
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 30 {
				id, err := v.Authenticate(bearer(good[(g+i)%len(good)]))
				assert.NoError(t, err)
				assert.Equal(t, testUserID, id)
				_, err = v.Authenticate(bearer(bad[(g+i)%len(bad)]))
				assert.ErrorIs(t, err, httpapi.ErrUnauthorized)
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, srv.fetches.Load(), int64(2), "construction, then at most one unknown-kid fetch")
}

// refreshGoroutines counts the JWKS background refresh goroutines alive in the process.
func refreshGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/MicahParks/jwkset.NewStorageFromHTTP")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func TestJWTVerifier_CloseStopsRefreshGoroutine(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
	before := refreshGoroutines()
	v, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{JWKSURL: srv.url()})
	require.NoError(t, err)
	assert.Equal(t, before+1, refreshGoroutines())

	require.NoError(t, v.Close())
	require.Eventually(t, func() bool { return refreshGoroutines() == before }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, v.Close(), "Close is idempotent")

	t.Run("a closed verifier keeps its cache and never fetches", func(t *testing.T) {
		fetches := srv.fetches.Load()
		_, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())))
		require.NoError(t, err)
		_, err = v.Authenticate(bearer(sign(t, jwt.SigningMethodES256, strayKey(), "unknown-kid", claims())))
		requireUnauthorized(t, err)
		assert.Equal(t, fetches, srv.fetches.Load())
	})
	t.Run("secret-only verifier starts no goroutine", func(t *testing.T) {
		v, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{Secret: testSecret})
		require.NoError(t, err)
		assert.Equal(t, before, refreshGoroutines())
		require.NoError(t, v.Close())
	})
}
