package resolve_test

import (
	"net/http"
	"testing"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
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
