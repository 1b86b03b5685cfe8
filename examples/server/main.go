// Command server serves the byok HTTP API (package httpapi) on 127.0.0.1:8080.
//
//	go run ./examples/server
//
// With no Supabase settings it runs on a fresh machine: in-memory stores, a random
// development JWT secret, and a printed access token for a development user, so the
// routes can be tried with curl at once. With SUPABASE_URL and SUPABASE_SECRET_KEY (or
// SUPABASE_SERVICE_ROLE_KEY) it uses the Supabase stores, keeps the rate limits in the
// database (httpapi.NewPostgresLimiter, so that several instances share each user's budget)
// and verifies real access tokens, whose iss must be {SUPABASE_URL}/auth/v1: with
// SUPABASE_JWT_SECRET (the project's legacy HS256 secret), with the project's JWKS at
// SUPABASE_JWKS_URL, or both; with neither set, with the JWKS at
// {SUPABASE_URL}/auth/v1/.well-known/jwks.json. A JWKS that cannot be fetched or holds no
// signing key stops the server at start.
//
// Other settings: BYOK_ADDR (listen address, default 127.0.0.1:8080), BYOK_HEALTH_KEY
// (operator key of GET /api/health/byok; printed, random, in development),
// BYOK_ALLOW_HTTP_JWKS=true (an http SUPABASE_JWKS_URL on any host, for a self-hosted stack
// such as http://kong:8000/auth/v1/.well-known/jwks.json), AI_GATEWAY_ALLOWED_HOSTS (comma-separated gateway hosts allowed besides
// ai-gateway.vercel.sh), and the team variables resolve.TeamFromEnv reads
// (AI_GATEWAY_API_KEY, AI_GATEWAY_URL, OPENAI_API_KEY, ...). In development, a missing
// AI_GATEWAY_API_KEY is replaced by a placeholder so the team path can be seen; resolving
// never calls a provider.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/httpapi"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	"github.com/byok-go/byok/supabase"
	"github.com/byok-go/byok/usage"
	"github.com/byok-go/byok/vault"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := os.Getenv("BYOK_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Getenv, ln, os.Stdout, logger); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run serves on ln until ctx ends. It prints how to reach the server to out.
func run(ctx context.Context, getenv func(string) string, ln net.Listener, out io.Writer, logger *slog.Logger) error {
	cfg, closeFn, err := configure(getenv, ln.Addr().String(), out, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeFn()
	srv := &http.Server{
		Handler:           httpapi.New(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "listening on http://%s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// configure builds the handler's Config from the environment: Supabase when its
// settings are present, in-memory development stores otherwise.
func configure(getenv func(string) string, addr string, out io.Writer, logger *slog.Logger) (httpapi.Config, func(), error) {
	allowed := splitList(getenv("AI_GATEWAY_ALLOWED_HOSTS"))
	team := resolve.TeamFromLookup(getenv)
	url := strings.TrimSpace(getenv("SUPABASE_URL"))
	key := strings.TrimSpace(getenv("SUPABASE_SECRET_KEY"))
	if key == "" {
		key = strings.TrimSpace(getenv("SUPABASE_SERVICE_ROLE_KEY"))
	}
	healthKey := strings.TrimSpace(getenv("BYOK_HEALTH_KEY"))

	if url == "" && key == "" {
		return development(addr, allowed, team, healthKey, out, logger)
	}
	if url == "" || key == "" {
		return httpapi.Config{}, nil, errors.New("set both SUPABASE_URL and SUPABASE_SECRET_KEY (or SUPABASE_SERVICE_ROLE_KEY), or neither for development mode")
	}
	client, err := supabase.New(url, key)
	if err != nil {
		return httpapi.Config{}, nil, err
	}
	auth := strings.TrimRight(url, "/") + "/auth/v1"
	secret := secretBytes(getenv("SUPABASE_JWT_SECRET"))
	jwksURL := strings.TrimSpace(getenv("SUPABASE_JWKS_URL"))
	if jwksURL == "" && secret == nil {
		jwksURL = auth + "/.well-known/jwks.json"
	}
	verifier, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{
		Secret:        secret,
		JWKSURL:       jwksURL,
		Issuer:        auth, // what Supabase Auth puts in iss
		AllowHTTPJWKS: strings.EqualFold(strings.TrimSpace(getenv("BYOK_ALLOW_HTTP_JWKS")), "true"),
	})
	if err != nil {
		return httpapi.Config{}, nil, err
	}
	keys := vault.New(client, vault.WithAllowedGatewayHosts(allowed...))
	settings := consent.New(client)
	cfg := httpapi.Config{
		Keys:      keys,
		Consent:   settings,
		Resolver:  resolve.New(keys, settings, team, resolve.WithAllowedGatewayHosts(allowed...), resolve.WithCache(30*time.Second)),
		Validator: &providers.Validator{},
		Health:    keys,
		HealthKey: healthKey,
		Verify:    verifier.Verify,
		Usage:     usage.New(client), // GET /api/usage: the caller's team-paid requests and consent changes
		// Every instance of the server shares each user's budget in the database.
		Limiter: httpapi.NewPostgresLimiter(client),
		Logger:  logger,
	}
	fmt.Fprintln(out, "mode: supabase")
	if healthKey == "" {
		fmt.Fprintln(out, "BYOK_HEALTH_KEY is not set: /api/health/byok answers 503")
	}
	return cfg, func() { _ = verifier.Close() }, nil
}

// development is the Config of a fresh machine: in-memory stores and HS256 tokens
// signed with a random secret, one of them printed.
func development(addr string, allowed []string, team resolve.Team, healthKey string, out io.Writer, logger *slog.Logger) (httpapi.Config, func(), error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return httpapi.Config{}, nil, err
	}
	verifier, err := httpapi.NewJWTVerifier(httpapi.JWTConfig{Secret: secret})
	if err != nil {
		return httpapi.Config{}, nil, err
	}
	user := randomUUID()
	token, err := httpapi.SignDevToken(secret, user, 24*time.Hour)
	if err != nil {
		return httpapi.Config{}, nil, err
	}
	if healthKey == "" {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return httpapi.Config{}, nil, err
		}
		healthKey = "dev-" + hex.EncodeToString(b[:])
	}
	if team.GatewayKey.IsZero() {
		team.GatewayKey = providers.NewSecret("placeholder-team-gateway-key")
	}
	keys := resolvetest.NewKeys()
	keys.AllowGatewayHosts(allowed...)
	settings := resolvetest.NewConsent(true)
	cfg := httpapi.Config{
		Keys:      keys,
		Consent:   settings,
		Resolver:  resolve.New(keys, settings, team, resolve.WithAllowedGatewayHosts(allowed...), resolve.WithCache(30*time.Second)),
		Validator: &providers.Validator{},
		Health:    healthFunc(func(context.Context) error { return nil }),
		HealthKey: healthKey,
		Verify:    verifier.Verify,
		Usage:     resolvetest.NewUsage(),
		Logger:    logger,
	}
	fmt.Fprintf(out, "mode: development (in-memory stores; set SUPABASE_URL and SUPABASE_SECRET_KEY for Supabase)\n")
	fmt.Fprintf(out, "development user: %s\n", user)
	fmt.Fprintf(out, "export TOKEN=%s\n", token)
	fmt.Fprintf(out, "export BYOK_HEALTH_KEY=%s\n", healthKey)
	fmt.Fprintf(out, "try: curl -s -H \"Authorization: Bearer $TOKEN\" http://%s/api/providers/resolve\n", addr)
	return cfg, func() { _ = verifier.Close() }, nil
}

// healthFunc adapts a function to httpapi.HealthChecker.
type healthFunc func(context.Context) error

func (f healthFunc) Health(ctx context.Context) error { return f(ctx) }

func secretBytes(s string) []byte {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return []byte(s)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
