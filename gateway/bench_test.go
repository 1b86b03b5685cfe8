package gateway_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
)

// rewindBody is a request body that can be rewound without allocating.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// BenchmarkApply: Params.Apply on a 2 KiB chat body. bare has no providerOptions;
// caller has the caller's own gateway object, which sets the compliance members (at
// least as tight as the options') and a byok of its own, so the merge reads and checks
// every member before adding the rest.
func BenchmarkApply(b *testing.B) {
	var msgs []string
	for i := range 12 {
		msgs = append(msgs, fmt.Sprintf(`{"role":%q,"content":%q}`, []string{"user", "assistant"}[i%2], strings.Repeat(fmt.Sprintf("message %d says something. ", i), 5)))
	}
	chat := `"model":"anthropic/claude-sonnet-4.5","messages":[` + strings.Join(msgs, ",") + `],"temperature":0.7,"stream":true`
	opts, err := gateway.Compile(gateway.Options{Order: []string{"anthropic", "bedrock"}, Only: []string{"anthropic", "bedrock"},
		Models: []string{"gpt-4o"}, User: "end-user-1", Tags: []string{"chat"}, ZeroDataRetention: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		body string
		slug string
	}{
		{"bare/options", `{` + chat + `}`, ""},
		{"bare/byok", `{` + chat + `}`, "anthropic"},
		{"caller/options", `{` + chat + `,"providerOptions":{"gateway":{"zeroDataRetention":true,"only":["anthropic"],"user":"u-2","byok":{"bedrock":[{"accessKeyId":"a"}]}}}}`, ""},
		{"caller/byok", `{` + chat + `,"providerOptions":{"gateway":{"zeroDataRetention":true,"only":["anthropic"],"user":"u-2","byok":{"bedrock":[{"accessKeyId":"a"}]}}}}`, "anthropic"},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := gateway.NewParams(opts, c.slug, providers.NewSecret("sk-ant-user-example"))
			body := []byte(c.body)
			rb := &rewindBody{}
			header := http.Header{"Content-Type": {"application/json"}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rb.Reset(body)
				r := http.Request{Method: http.MethodPost, Header: header, Body: rb, ContentLength: int64(len(body))}
				if err := p.Apply(&r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
