package httpapi_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/httpapi"
)

func TestJWTVerifier_VerifyReturnsGoTrueClaims(t *testing.T) {
	v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret, Issuer: testIssuer})

	c, err := v.Verify(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", gotrueClaims(testUserID))))
	require.NoError(t, err)
	assert.Equal(t, httpapi.Claims{UserID: testUserID, SessionID: testSession, AAL: "aal1", Methods: []string{"password"}}, c)
	assert.False(t, c.MFA())

	c, err = v.Verify(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", mfaClaims(testUserID))))
	require.NoError(t, err)
	assert.Equal(t, "aal2", c.AAL)
	assert.Equal(t, []string{"totp", "password"}, c.Methods)
	assert.True(t, c.MFA())

	id, err := v.Authenticate(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", mfaClaims(testUserID))))
	require.NoError(t, err)
	assert.Equal(t, testUserID, id, "Authenticate is Verify's user id")
}

func TestJWTVerifier_anonymousUsers(t *testing.T) {
	anon := sign(t, jwt.SigningMethodHS256, testSecret, "", anonymousClaims(testUserID))
	// A token that says anonymous only in amr is anonymous too.
	amrOnly := sign(t, jwt.SigningMethodHS256, testSecret, "", with(anonymousClaims(testUserID), "is_anonymous", false))
	// Older Auth versions put no is_anonymous in the token: a password user stays accepted.
	noFlag := sign(t, jwt.SigningMethodHS256, testSecret, "", without(gotrueClaims(testUserID), "is_anonymous"))

	t.Run("refused by default", func(t *testing.T) {
		v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret})
		for _, tok := range []string{anon, amrOnly} {
			c, err := v.Verify(bearer(tok))
			requireUnauthorized(t, err, tok, testUserID)
			assert.Contains(t, err.Error(), "anonymous user")
			assert.Empty(t, c.UserID)
			_, err = v.Authenticate(bearer(tok))
			requireUnauthorized(t, err)
		}
		_, err := v.Verify(bearer(noFlag))
		require.NoError(t, err)
	})
	t.Run("accepted with AllowAnonymous", func(t *testing.T) {
		v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret, AllowAnonymous: true})
		c, err := v.Verify(bearer(anon))
		require.NoError(t, err)
		assert.Equal(t, httpapi.Claims{UserID: testUserID, SessionID: testSession, AAL: "aal1", Anonymous: true, Methods: []string{"anonymous"}}, c)
	})
}

func TestJWTVerifier_OAuthClientTokens(t *testing.T) {
	tok := sign(t, jwt.SigningMethodHS256, testSecret, "", clientClaims(testUserID))
	emptyClient := sign(t, jwt.SigningMethodHS256, testSecret, "", with(gotrueClaims(testUserID), "client_id", ""))

	t.Run("refused by default", func(t *testing.T) {
		v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret})
		for _, tok := range []string{tok, emptyClient} {
			_, err := v.Verify(bearer(tok))
			requireUnauthorized(t, err, tok, "9a5b1c2d")
			assert.Contains(t, err.Error(), "oauth client token")
		}
	})
	t.Run("accepted with AllowClientTokens", func(t *testing.T) {
		v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret, AllowClientTokens: true})
		c, err := v.Verify(bearer(tok))
		require.NoError(t, err)
		assert.Equal(t, "9a5b1c2d-7e8f-4a0b-9c1d-2e3f4a5b6c7d", c.ClientID)
		assert.Equal(t, testUserID, c.UserID)
	})
	t.Run("a client token of an anonymous user needs both", func(t *testing.T) {
		both := sign(t, jwt.SigningMethodHS256, testSecret, "", with(anonymousClaims(testUserID), "client_id", "c-1"))
		v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret, AllowClientTokens: true})
		_, err := v.Verify(bearer(both))
		requireUnauthorized(t, err)
		v = newVerifier(t, httpapi.JWTConfig{Secret: testSecret, AllowClientTokens: true, AllowAnonymous: true})
		_, err = v.Verify(bearer(both))
		require.NoError(t, err)
	})
}

func TestJWTVerifier_issuer(t *testing.T) {
	hs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, testSecret, "", c) }
	foreign := hs(with(claims(), "iss", "https://attacker.supabase.co/auth/v1"))
	v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret, Issuer: testIssuer})

	_, err := v.Verify(bearer(hs(claims())))
	require.NoError(t, err)
	for name, tok := range map[string]string{
		"foreign issuer sharing the secret": foreign,
		"no iss":                            hs(without(claims(), "iss")),
		"trailing slash":                    hs(with(claims(), "iss", testIssuer+"/")),
		"another case":                      hs(with(claims(), "iss", strings.ToUpper(testIssuer))),
		"iss not a string":                  hs(with(claims(), "iss", 1)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(bearer(tok))
			requireUnauthorized(t, err, tok, "attacker")
		})
	}
	_, err = v.Verify(bearer(foreign))
	assert.Contains(t, err.Error(), "wrong issuer")

	t.Run("not checked without an Issuer", func(t *testing.T) {
		v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret})
		_, err := v.Verify(bearer(foreign))
		require.NoError(t, err)
	})
	t.Run("an issuer with white space is refused", func(t *testing.T) {
		_, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{Secret: testSecret, Issuer: testIssuer + " "})
		require.ErrorIs(t, err, httpapi.ErrInvalidJWTConfig)
	})
}

// exp, nbf and iat must be JSON numbers: jwt's NumericDate alone also takes a string.
func TestJWTVerifier_timeClaimsMustBeNumbers(t *testing.T) {
	v := newVerifier(t, httpapi.JWTConfig{Secret: testSecret})
	future := time.Now().Add(time.Hour).Unix()
	past := time.Now().Add(-time.Hour).Unix()
	for _, tc := range []struct {
		claim string
		value any
	}{
		{"exp", "9999999999"},
		{"exp", `9999999999`},
		{"exp", nil},
		{"exp", true},
		{"exp", []int64{future}},
		{"exp", map[string]any{"t": future}},
		{"nbf", "0"},
		{"nbf", nil},
		{"iat", "1700000000"},
		{"iat", nil},
		{"iat", false},
	} {
		t.Run(tc.claim, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, testSecret, "", with(claims(), tc.claim, tc.value))
			_, err := v.Verify(bearer(tok))
			requireUnauthorized(t, err, tok)
			assert.Contains(t, err.Error(), "time claim is not a number")
		})
	}
	t.Run("numbers pass, fractional ones too", func(t *testing.T) {
		c := claims()
		c["exp"], c["nbf"], c["iat"] = float64(future)+0.5, past, float64(past)+0.25
		_, err := v.Verify(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", c)))
		require.NoError(t, err)
	})
	t.Run("beyond the documented leeway", func(t *testing.T) {
		now := time.Now()
		for claim, at := range map[string]time.Time{
			"exp": now.Add(-httpapi.ClockLeeway - 5*time.Second),
			"nbf": now.Add(httpapi.ClockLeeway + 5*time.Second),
			"iat": now.Add(httpapi.ClockLeeway + 5*time.Second),
		} {
			_, err := v.Verify(bearer(sign(t, jwt.SigningMethodHS256, testSecret, "", with(claims(), claim, at.Unix()))))
			requireUnauthorized(t, err)
		}
	})
}

// statusJWKS answers every request with status and body, counting the requests.
func statusJWKS(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestNewJWTVerifier_JWKSCheckedAtStart(t *testing.T) {
	before := refreshGoroutines()
	enc := must(jwkset.NewJWKFromKey(ecKey().Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "ec-enc", USE: jwkset.UseEnc},
	}))
	oct := must(jwkset.NewJWKFromKey([]byte("published-symmetric-key-0123456789abcdef"), jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{KID: "oct-1", ALG: jwkset.AlgHS256},
	}))
	smallRSA := must(jwkset.NewJWKFromKey(&must(rsa.GenerateKey(rand.Reader, 1024)).PublicKey, jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: "rsa-small", ALG: jwkset.AlgRS256, USE: jwkset.UseSig},
	}))

	for _, tc := range []struct {
		name, want string
		url        func(t *testing.T) string
	}{
		{"404 (bare GoTrue has no /auth/v1 prefix)", "answered HTTP 404", func(t *testing.T) string {
			srv, _ := statusJWKS(t, http.StatusNotFound, `{"code":404,"msg":"Not Found"}`)
			return srv.URL + jwksPath
		}},
		{"503", "answered HTTP 503", func(t *testing.T) string {
			srv, _ := statusJWKS(t, http.StatusServiceUnavailable, ``)
			return srv.URL + jwksPath
		}},
		{"empty set", "no usable signing key", func(t *testing.T) string { return newJWKSServer(t).url() }},
		{"only an encryption key", "no usable signing key", func(t *testing.T) string { return newJWKSServer(t, enc).url() }},
		{"only a symmetric key", "no usable signing key", func(t *testing.T) string { return newJWKSServer(t, oct).url() }},
		{"only a short RSA key", "no usable signing key", func(t *testing.T) string { return newJWKSServer(t, smallRSA).url() }},
		{"not a JWK Set", "did not answer a JWK Set", func(t *testing.T) string {
			srv, _ := statusJWKS(t, http.StatusOK, `<html>login</html>`)
			return srv.URL + jwksPath
		}},
		{"unreachable", "could not be fetched", func(t *testing.T) string {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close() // connection refused from now on
			return srv.URL + jwksPath
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.url(t) + "?apikey=sb_secret_canary"
			for _, cfg := range []httpapi.JWTConfig{{JWKSURL: u}, {JWKSURL: u, Secret: testSecret}} {
				v, err := httpapi.NewJWTVerifier(cfg)
				require.ErrorIs(t, err, httpapi.ErrJWKSUnavailable)
				require.ErrorIs(t, err, httpapi.ErrInvalidJWTConfig)
				assert.Nil(t, v)
				host := strings.TrimPrefix(strings.SplitN(u, "/auth", 2)[0], "http://")
				assert.Contains(t, err.Error(), host+jwksPath, "names host and path")
				assert.Contains(t, err.Error(), tc.want)
				assert.NotContains(t, err.Error(), "sb_secret_canary", "never the query")
				assert.NotContains(t, err.Error(), "http://")
			}
		})
	}
	require.Eventually(t, func() bool { return refreshGoroutines() == before }, 10*time.Second, 5*time.Millisecond,
		"a failed construction leaves no refresh goroutine")

	t.Run("a hung JWKS fails after the timeout, not never", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		client := &http.Client{Timeout: 50 * time.Millisecond}
		_, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{JWKSURL: srv.URL + jwksPath, Client: client})
		require.ErrorIs(t, err, httpapi.ErrJWKSUnavailable)
		assert.Contains(t, err.Error(), "no answer")
	})
	t.Run("one usable key among unusable ones is enough", func(t *testing.T) {
		srv := newJWKSServer(t, enc, oct, publicJWK(t, ecKey2(), "ec-2", jwkset.AlgES256))
		v := newVerifier(t, httpapi.JWTConfig{JWKSURL: srv.url()})
		_, err := v.Verify(bearer(sign(t, jwt.SigningMethodES256, ecKey2(), "ec-2", claims())))
		require.NoError(t, err)
		assert.Equal(t, int64(1), srv.fetches.Load(), "fetched once at construction")
	})
}

// A self-hosted stack serves its JWKS over http on a private name (docker compose's kong).
// The client's dialer sends every connection to an httptest server, so the name need not
// resolve.
func TestNewJWTVerifier_AllowHTTPJWKS(t *testing.T) {
	srv := newJWKSServer(t, publicJWK(t, ecKey(), "ec-1", jwkset.AlgES256))
	var dialed atomic.Int64
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dialed.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, srv.srv.Listener.Addr().String())
		},
	}}
	const kong = "http://kong:8000" + jwksPath

	_, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{JWKSURL: kong, Client: client})
	require.ErrorIs(t, err, httpapi.ErrInvalidJWTConfig)
	assert.NotErrorIs(t, err, httpapi.ErrJWKSUnavailable, "refused by the URL check")
	assert.Zero(t, dialed.Load(), "refused before any connection")

	v := newVerifier(t, httpapi.JWTConfig{JWKSURL: kong, Client: client, AllowHTTPJWKS: true})
	c, err := v.Verify(bearer(sign(t, jwt.SigningMethodES256, ecKey(), "ec-1", claims())))
	require.NoError(t, err)
	assert.Equal(t, testUserID, c.UserID)
	assert.Equal(t, int64(1), srv.fetches.Load())

	for name, u := range map[string]string{
		"ftp":         "ftp://kong:8000" + jwksPath,
		"credentials": "http://user:pw@kong:8000" + jwksPath,
	} {
		t.Run(name+" stays refused", func(t *testing.T) {
			_, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{JWKSURL: u, Client: client, AllowHTTPJWKS: true})
			require.ErrorIs(t, err, httpapi.ErrInvalidJWTConfig)
			assert.NotContains(t, err.Error(), "pw@")
		})
	}
}
