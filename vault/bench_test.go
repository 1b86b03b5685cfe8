package vault_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/consent"
	"github.com/byok-go/byok/internal/pgtest"
	"github.com/byok-go/byok/internal/storetest"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/supabase/pgcall"
	"github.com/byok-go/byok/vault"
)

// BenchmarkColdResolve compares a cold resolution over the real database (pgcall on the
// throwaway PostgreSQL) through the Snapshotter with the per-tier sequence the same store
// makes when its Snapshot method is hidden, for the two users whose per-tier sequence is
// the longest: one whose only key is xAI (last in the order) and one who falls back to the
// team gateway. There is no cache, so every Resolve is cold; RPCs/op is counted.
//
// rtt=loopback connects straight to the database on this machine. rtt=2ms goes through a
// proxy that holds every chunk of bytes for 1 ms each way, as when the database is a few
// milliseconds away (a Supabase project in a nearby region). Timers are coarse on some
// machines, so the select-1 row measures the round trip each setting really has.
func BenchmarkColdResolve(b *testing.B) {
	db := pgtest.New(b)
	ctx := context.Background()
	setup := pgcall.New(newPool(b, db.AuthenticatorDSN, ""))
	xaiOnly := db.CreateUser(b)
	require.NoError(b, vault.New(setup).PutKey(ctx, xaiOnly, providers.XAI, storetest.Secret("xai-bench")))
	teamUser := db.CreateUser(b)

	for _, rtt := range []time.Duration{0, 2 * time.Millisecond} {
		name, via := "rtt=loopback", ""
		if rtt > 0 {
			name, via = "rtt="+rtt.String(), latencyProxy(b, db.AuthenticatorDSN, rtt/2)
		}
		pool := newPool(b, db.AuthenticatorDSN, via)
		// The round trip itself, for reading the rows below.
		b.Run(name+"/select-1", func(b *testing.B) {
			for b.Loop() {
				var one int
				if err := pool.QueryRow(ctx, "select 1").Scan(&one); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, u := range []struct {
			name string
			id   string
			path resolve.Path
		}{
			{"user=xai-only", xaiOnly, resolve.UserProvider},
			{"user=team-gateway", teamUser, resolve.TeamGateway},
		} {
			for _, mode := range []string{"snapshot", "per-tier"} {
				b.Run(name+"/"+u.name+"/"+mode, func(b *testing.B) {
					cc := &storetest.Counting{Caller: pgcall.New(pool)}
					store := vault.New(cc)
					var keys resolve.KeyStore = store
					if mode == "per-tier" {
						keys = storetest.PerTier{KeyStore: store}
					}
					r := resolve.New(keys, consent.New(cc), storetest.Team)
					if _, path, err := r.Resolve(ctx, u.id); err != nil || path != u.path {
						b.Fatalf("warm-up resolve: path %q, err %v", path, err)
					}
					cc.Take()
					n := 0
					for b.Loop() {
						if _, _, err := r.Resolve(ctx, u.id); err != nil {
							b.Fatal(err)
						}
						n++
					}
					b.ReportMetric(float64(cc.Take())/float64(n), "RPCs/op")
				})
			}
		}
	}
}

// newPool connects to dsn, through the proxy at via ("host:port") when via is not "".
func newPool(b *testing.B, dsn, via string) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(b, err)
	if via != "" {
		host, port, err := net.SplitHostPort(via)
		require.NoError(b, err)
		p, err := strconv.ParseUint(port, 10, 16)
		require.NoError(b, err)
		cfg.ConnConfig.Host, cfg.ConnConfig.Port = host, uint16(p)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	return pool
}

// latencyProxy forwards TCP connections to the database of dsn, delivering every chunk
// of bytes oneWay after it arrived, in both directions, and returns its address.
func latencyProxy(b *testing.B, dsn string, oneWay time.Duration) string {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(b, err)
	target := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go delayed(server, client, oneWay)
			go delayed(client, server, oneWay)
		}
	}()
	return ln.Addr().String()
}

// delayed copies src to dst, each chunk oneWay after it was read.
func delayed(dst, src net.Conn, oneWay time.Duration) {
	type chunk struct {
		at   time.Time
		data []byte
	}
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now().Add(oneWay), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	defer dst.Close()
	for c := range chunks {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.data); err != nil && !errors.Is(err, io.EOF) {
			return
		}
	}
}
