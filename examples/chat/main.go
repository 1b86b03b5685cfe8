// Command chat resolves credentials for three users and calls a chat completion for each
// through the official OpenAI Go SDK and the byok adapter. It needs nothing external:
//
//	go run ./examples/chat
//
// The server's own keys sit in the environment, where the SDK reads them by itself
// (this program puts demo values there). A local fake upstream stands in for the
// gateway and OpenAI and prints what it received: per user, the resolution path, the
// host and request path, the model and the last 4 characters of the key. Only the
// resolved key arrives; the server's keys, organization and project never do.
//
// A service passes nil as the base to byokopenai.RequestOptions, so requests go to
// the real hosts over a dialer that refuses non-public addresses; here the base is
// resolvetest.Upstream, which sends them to the fake upstream instead.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/openai/openai-go/v3"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
	byokopenai "github.com/byok-go/byok/sdk/openai"
)

// serverEnv is the server's configuration: its own keys, which both official SDKs also
// read by themselves, and the team's gateway key.
var serverEnv = map[string]string{
	"AI_GATEWAY_API_KEY": "vck-team-demo-7eam",
	"OPENAI_API_KEY":     "sk-server-demo-SRV1",
	"ANTHROPIC_API_KEY":  "sk-ant-server-demo-SRV2",
	"OPENAI_ORG_ID":      "org-server-demo",
	"OPENAI_PROJECT_ID":  "proj_server-demo",
}

func main() {
	for k, v := range serverEnv {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, "chat:", err)
			os.Exit(1)
		}
	}
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// received is what the fake upstream saw of one request.
type received struct {
	host, path, model, keyEnd string
	serverHeaders             []string // credential headers other than the key's
}

func run(ctx context.Context, out io.Writer) error {
	upstream, requests := fakeUpstream()
	defer upstream.Close()

	keys := resolvetest.NewKeys()
	keys.Put("alice", providers.Gateway, "vck-alice-demo-al1c") // her own gateway key
	keys.Put("bob", providers.OpenAI, "sk-bob-demo-b0b1")       // his own OpenAI key
	// carol has no key of her own and consents to team fallback (the default).
	r := resolve.New(keys, resolvetest.NewConsent(true), resolve.TeamFromEnv())

	users := []struct{ name, model string }{
		{"alice", "claude-sonnet-4.5"},
		{"bob", "gpt-5"},
		{"carol", "x-ai/grok-4.3"},
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tPATH\tUPSTREAM HOST\tREQUEST PATH\tMODEL\tKEY\tSERVER CREDENTIALS")
	for _, u := range users {
		p, path, err := r.Resolve(ctx, u.name, resolve.WithModel(u.model))
		if err != nil {
			return err
		}
		opts, err := byokopenai.RequestOptions(p, resolvetest.NewUpstream(upstream))
		if err != nil {
			return err
		}
		client := openai.NewClient(opts...)
		if _, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    p.Model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello")},
		}); err != nil {
			return err
		}
		got := requests()
		s := got[len(got)-1]
		leaked := "none"
		if len(s.serverHeaders) > 0 {
			leaked = strings.Join(s.serverHeaders, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t...%s\t%s\n", u.name, path, s.host, s.path, s.model, s.keyEnd, leaked)
	}
	return tw.Flush()
}

// fakeUpstream answers chat completions like any OpenAI-compatible API and records
// what each request carried.
func fakeUpstream() (*httptest.Server, func() []received) {
	var (
		mu  sync.Mutex
		got []received
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Model string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		rec := received{host: r.Host, path: r.URL.Path, model: body.Model, keyEnd: key[max(0, len(key)-4):]}
		for _, h := range []string{"X-Api-Key", "Api-Key", "OpenAI-Organization", "OpenAI-Project"} {
			if r.Header.Get(h) != "" {
				rec.serverHeaders = append(rec.serverHeaders, h)
			}
		}
		for name, v := range serverEnv {
			if name != "AI_GATEWAY_API_KEY" && strings.Contains(fmt.Sprint(r.Header), v) {
				rec.serverHeaders = append(rec.serverHeaders, "a server key")
			}
		}
		mu.Lock()
		got = append(got, rec)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":"c1","object":"chat.completion","created":0,"model":%q,`+
			`"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hi"}}]}`, body.Model)
	}))
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}
