package resolve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/byok-go/byok/providers"
)

// What holds the user's key prints no key, whatever reaches it: every fmt verb, slog,
// JSON, directly or inside a value.
func TestGatewayParams_neverPrintsTheKey(t *testing.T) {
	const canary = "sk-ant-params-canary-0c4e"
	opts, err := compileGateway(GatewayOptions{Order: []string{"anthropic"}, User: "u"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatewayParams{opts: opts, byokSlug: "anthropic", byokKey: providers.NewSecret(canary)}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+" "+verb+" "+verb+"\n", g, *g, struct{ G *gatewayParams }{g})
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "g", g, "v", *g)
	slog.New(slog.NewTextHandler(&out, nil)).Info("m", "g", g)
	js, err := json.Marshal(map[string]any{"g": g, "s": struct{ G *gatewayParams }{g}})
	if err != nil {
		t.Fatal(err)
	}
	out.Write(js)
	if strings.Contains(out.String(), canary) {
		t.Fatalf("the key was printed:\n%s", out.String())
	}
	if want := "gateway{order user byok=anthropic:[REDACTED]}"; g.String() != want {
		t.Errorf("String() = %q, want %q", g.String(), want)
	}
}

// A cached gateway Provider keeps its options and BYOK in the entry's extra fields, not
// in a whole copy of the result.
func TestCacheEntry_gatewayParamsInExtraFields(t *testing.T) {
	g := &gatewayParams{byokSlug: "openai", byokKey: providers.NewSecret("sk-user")}
	p := Provider{ID: providers.Gateway, APIKey: providers.NewSecret("vck-team"), BaseURL: defaultURL(providers.Gateway), BaseURLSource: SourceDefault, gateway: g}
	e := newEntry("", p, GatewayBYOK, 42, nil)
	if e.x == nil || e.x.full != nil || e.x.gateway != g {
		t.Fatalf("entry extra = %+v, want the params in the extra fields", e.x)
	}
	if q, path := e.result(); q.gateway != g || path != GatewayBYOK {
		t.Errorf("result = %v %q", q.gateway, path)
	}
}
