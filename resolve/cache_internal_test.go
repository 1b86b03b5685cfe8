package resolve

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
)

// Every result comes back from its cache entry exactly as stored, in the compact form
// or, when that cannot hold it, whole.
func TestCacheEntry_roundTrip(t *testing.T) {
	key := providers.NewSecret("sk-entry")
	tests := []struct {
		name    string
		p       Provider
		path    Path
		compact bool // no extra allocation
	}{
		{"user provider", Provider{ID: providers.XAI, APIKey: key, BaseURL: defaultURL(providers.XAI), BaseURLSource: SourceDefault},
			UserProvider, true},
		{"server provider", Provider{ID: providers.Anthropic, APIKey: key, BaseURL: defaultURL(providers.Anthropic), BaseURLSource: SourceDefault},
			ServerProvider, true},
		{"team gateway, default URL", Provider{ID: providers.Gateway, APIKey: key, BaseURL: defaultURL(providers.Gateway), BaseURLSource: SourceDefault},
			TeamGateway, true},
		{"user gateway, user URL", Provider{ID: providers.Gateway, APIKey: key, BaseURL: "https://gw.example.com/v1", BaseURLSource: SourceUser},
			UserGateway, false},
		{"model", Provider{ID: providers.OpenAI, APIKey: key, BaseURL: defaultURL(providers.OpenAI), BaseURLSource: SourceDefault, Model: "gpt-4o"},
			UserProvider, false},
		{"unknown path", Provider{ID: providers.OpenAI, APIKey: key, BaseURL: defaultURL(providers.OpenAI), BaseURLSource: SourceDefault},
			Path("elsewhere"), false},
		{"gateway-byok without options", Provider{ID: providers.Gateway, APIKey: key, BaseURL: defaultURL(providers.Gateway), BaseURLSource: SourceDefault},
			GatewayBYOK, true},
		{"gateway-byok", Provider{ID: providers.Gateway, APIKey: key, BaseURL: defaultURL(providers.Gateway), BaseURLSource: SourceDefault,
			gateway: gateway.NewParams(nil, "anthropic", providers.NewSecret("sk-ant-user"))},
			GatewayBYOK, false},
		{"gateway options", Provider{ID: providers.Gateway, APIKey: key, BaseURL: defaultURL(providers.Gateway), BaseURLSource: SourceTeam,
			gateway: gateway.NewParams(mustCompile(gateway.Options{User: "u"}), "", providers.Secret{})},
			TeamGateway, false},
		{"watched", Provider{ID: providers.OpenAI, APIKey: key, BaseURL: defaultURL(providers.OpenAI), BaseURLSource: SourceDefault,
			origin: &origin{user: "u", path: UserProvider}},
			UserProvider, true},
		{"unknown source", Provider{ID: providers.OpenAI, APIKey: key, BaseURL: defaultURL(providers.OpenAI), BaseURLSource: "elsewhere"},
			UserProvider, false},
		{"unknown provider", Provider{ID: "mistral", APIKey: key, BaseURL: "https://api.mistral.ai/v1", BaseURLSource: SourceDefault},
			UserProvider, false},
		{"empty base URL", Provider{ID: providers.OpenAI, APIKey: key, BaseURLSource: SourceDefault}, UserProvider, false},
		{"zero", Provider{}, "", false},
	}
	var next *cacheEntry
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEntry("hint", tt.p, tt.path, 42, nil)
			p, path := e.result()
			if !reflect.DeepEqual(p, tt.p) || path != tt.path {
				t.Fatalf("got %#v %q, want %#v %q", p, path, tt.p, tt.path)
			}
			if compact := e.x == nil; compact != tt.compact {
				t.Errorf("compact = %v, want %v", compact, tt.compact)
			}
			linked := newEntry("other", tt.p, tt.path, 43, next)
			if p, path := linked.result(); !reflect.DeepEqual(p, tt.p) || path != tt.path || linked.older() != next {
				t.Errorf("with a next entry: got %#v %q", p, path)
			}
			next = linked
		})
	}
	if size := unsafe.Sizeof(cacheEntry{}); size > 64 {
		t.Errorf("cacheEntry is %d bytes; the compact form is meant to fit 64", size)
	}
}

func defaultURL(id providers.ID) string {
	spec, _ := id.Spec()
	return spec.BaseURL
}

func mustCompile(o gateway.Options) *gateway.Compiled {
	c, err := gateway.Compile(o, nil)
	if err != nil {
		panic(err)
	}
	return c
}
