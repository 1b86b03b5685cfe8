package resolve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

// noopBase answers every request with the same response and does nothing else.
type noopBase struct{ resp *http.Response }

func (b noopBase) RoundTrip(*http.Request) (*http.Response, error) { return b.resp, nil }

// sdkRequest is a request with the headers openai-go sets, the server's key among them.
func sdkRequest(b *testing.B) *http.Request {
	req, err := http.NewRequest(http.MethodPost, "https://api.openai.com/v1/chat/completions", http.NoBody)
	if err != nil {
		b.Fatal(err)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "OpenAI/Go 3.99.0",
		"X-Stainless-Lang": "go", "X-Stainless-Package-Version": "3.99.0", "X-Stainless-Os": "Linux",
		"X-Stainless-Arch": "x64", "X-Stainless-Runtime": "go", "X-Stainless-Retry-Count": "0",
		"Authorization": "Bearer sk-server", "Openai-Organization": "org-server",
	} {
		req.Header.Set(k, v)
	}
	return req
}

// BenchmarkTransport: one request through Provider.Transport over a base that does
// nothing: the host check, the clone, the credential strip and Authorize.
func BenchmarkTransport(b *testing.B) {
	for _, id := range []providers.ID{providers.OpenAI, providers.Anthropic} {
		b.Run(string(id), func(b *testing.B) {
			spec, _ := id.Spec()
			p := resolve.Provider{ID: id, APIKey: providers.NewSecret("sk-user-example"), BaseURL: spec.BaseURL}
			tr := p.Transport(noopBase{resp: &http.Response{StatusCode: 200, Body: http.NoBody}})
			req := sdkRequest(b)
			req.URL.Host, req.Host = p.BaseURLHost(), p.BaseURLHost()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTransportTeamUsage: BenchmarkTransport's request on the team gateway, from a
// Resolver without and with WithTeamUsage: the difference is what counting costs per
// request (the sink is never called: it flushes once an hour).
func BenchmarkTransportTeamUsage(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []resolve.Option
	}{
		{"off", nil},
		{"on", []resolve.Option{resolve.WithTeamUsage(resolvetest.NewUsage(), time.Hour)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), resolve.Team{GatewayKey: providers.NewSecret("vck-team-example")}, c.opts...)
			b.Cleanup(func() { _ = r.Close(context.Background()) })
			p, _, err := r.Resolve(context.Background(), "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11")
			if err != nil {
				b.Fatal(err)
			}
			tr := p.Transport(noopBase{resp: &http.Response{StatusCode: 200, Body: http.NoBody}})
			req := sdkRequest(b)
			req.URL.Host, req.Host = p.BaseURLHost(), p.BaseURLHost()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTransportTeamUsageParallel: as BenchmarkTransportTeamUsage from every core at
// once, each goroutine for a user of its own.
func BenchmarkTransportTeamUsageParallel(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []resolve.Option
	}{
		{"off", nil},
		{"on", []resolve.Option{resolve.WithTeamUsage(resolvetest.NewUsage(), time.Hour)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true), resolve.Team{GatewayKey: providers.NewSecret("vck-team-example")}, c.opts...)
			b.Cleanup(func() { _ = r.Close(context.Background()) })
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				p, _, err := r.Resolve(context.Background(), fmt.Sprintf("user-%d", next.Add(1)))
				if err != nil {
					b.Error(err)
					return
				}
				tr := p.Transport(noopBase{resp: &http.Response{StatusCode: 200, Body: http.NoBody}})
				req := sdkRequest(b)
				req.URL.Host, req.Host = p.BaseURLHost(), p.BaseURLHost()
				for pb.Next() {
					if _, err := tr.RoundTrip(req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTransportKeyHealth: one request through the Transport of a resolved
// Provider whose body the caller reads and closes, with and without WithKeyHealth, on a
// 2xx and on a 401. With key health a 401's body is copied aside as it is read and
// classified on another goroutine (most of which are dropped here: the loop outruns
// them); the store is written once.
func BenchmarkTransportKeyHealth(b *testing.B) {
	for _, status := range []int{200, 401} {
		for _, health := range []bool{false, true} {
			b.Run(fmt.Sprintf("%d/keyhealth=%v", status, health), func(b *testing.B) {
				keys := resolvetest.NewKeys()
				keys.Put(user1, providers.OpenAI, "sk-user-example")
				var opts []resolve.Option
				if health {
					opts = append(opts, resolve.WithKeyHealth())
				}
				r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{}, opts...)
				p, _, err := r.Resolve(b.Context(), user1)
				if err != nil {
					b.Fatal(err)
				}
				tr := p.Transport(answerBase{status: status, body: openAIInvalidKey})
				req := sdkRequest(b)
				buf := make([]byte, 4096)
				b.ReportAllocs()
				for b.Loop() {
					resp, err := tr.RoundTrip(req)
					if err != nil {
						b.Fatal(err)
					}
					for err == nil {
						_, err = resp.Body.Read(buf)
					}
					_ = resp.Body.Close()
				}
				b.StopTimer()
				resolve.WaitKeyReports(r)
			})
		}
	}
}

// BenchmarkHeaderSet is the floor Transport is compared with: setting the key on a
// request's headers by hand, as a caller without Transport would.
func BenchmarkHeaderSet(b *testing.B) {
	req := sdkRequest(b)
	key := providers.NewSecret("sk-user-example")
	b.ReportAllocs()
	for b.Loop() {
		req.Header.Set("Authorization", "Bearer "+key.Reveal())
	}
}

// BenchmarkHeaderClone is what any transport that never changes the caller's request
// pays at least: a copy of the headers, then the key set on the copy.
func BenchmarkHeaderClone(b *testing.B) {
	req := sdkRequest(b)
	key := providers.NewSecret("sk-user-example")
	b.ReportAllocs()
	for b.Loop() {
		h := req.Header.Clone()
		h.Set("Authorization", "Bearer "+key.Reveal())
	}
}

// rewindBody is a request body that can be rewound without allocating, so the benchmarks
// below measure the Transport, not the making of bodies.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// chatBody returns a chat completion request of about 2 KiB, as openai-go writes one.
func chatBody(b *testing.B) []byte {
	msgs := make([]map[string]string, 0, 12)
	for i := range 12 {
		msgs = append(msgs, map[string]string{"role": []string{"user", "assistant"}[i%2],
			"content": strings.Repeat(fmt.Sprintf("message %d says something. ", i), 5)})
	}
	body, err := json.Marshal(map[string]any{"model": "anthropic/claude-sonnet-4.5", "messages": msgs, "temperature": 0.7, "stream": true})
	if err != nil {
		b.Fatal(err)
	}
	if len(body) < 2000 || len(body) > 2200 {
		b.Fatalf("body is %d bytes, want about 2 KiB", len(body))
	}
	return body
}

// BenchmarkTransportGatewayBody: one 2 KiB JSON POST through a gateway Provider's
// Transport over a base that does nothing. plain carries no options, so the body is not
// read; options merges four options into it; byok merges them and the user's key.
func BenchmarkTransportGatewayBody(b *testing.B) {
	opts := gateway.Options{Order: []string{"anthropic", "bedrock"}, Models: []string{"gpt-4o"}, User: "end-user-1", Tags: []string{"chat"}}
	for _, c := range []struct {
		name string
		opts []resolve.Option
		key  bool
	}{
		{"plain", nil, false},
		{"options", []resolve.Option{resolve.WithDefaultGatewayOptions(opts)}, false},
		{"byok", []resolve.Option{resolve.WithDefaultGatewayOptions(opts), resolve.WithGatewayBYOK()}, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			keys := resolvetest.NewKeys()
			if c.key {
				keys.Put("u", providers.Anthropic, "sk-ant-user-example")
			}
			r := resolve.New(keys, resolvetest.NewConsent(true), resolve.Team{GatewayKey: providers.NewSecret("vck-team-example")}, c.opts...)
			p, _, err := r.Resolve(context.Background(), "u")
			if err != nil {
				b.Fatal(err)
			}
			tr := p.Transport(noopBase{resp: &http.Response{StatusCode: 200, Body: http.NoBody}})
			body := chatBody(b)
			rb := &rewindBody{}
			req := sdkRequest(b)
			req.URL.Host, req.Host = p.BaseURLHost(), p.BaseURLHost()
			req.ContentLength = int64(len(body))
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rb.Reset(body)
				req.Body = rb
				if _, err := tr.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJSONValid is the validity check the merge starts with, on the same body.
func BenchmarkJSONValid(b *testing.B) {
	body := chatBody(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(body) {
			b.Fatal("invalid")
		}
	}
}
