package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
)

// What holds the user's key prints no key, whatever reaches it: every fmt verb, slog,
// JSON, directly or inside a value.
func TestParams_neverPrintsTheKey(t *testing.T) {
	const canary = "sk-ant-params-canary-0c4e"
	opts, err := gateway.Compile(gateway.Options{Order: []string{"anthropic"}, User: "u"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := gateway.NewParams(opts, "anthropic", providers.NewSecret(canary))
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+" "+verb+" "+verb+"\n", g, *g, struct{ G *gateway.Params }{g})
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("m", "g", g, "v", *g)
	slog.New(slog.NewTextHandler(&out, nil)).Info("m", "g", g)
	js, err := json.Marshal(map[string]any{"g": g, "s": struct{ G *gateway.Params }{g}})
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
