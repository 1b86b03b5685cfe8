package resolve

import (
	"testing"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/providers"
)

// A cached gateway Provider keeps its options and BYOK in the entry's extra fields, not
// in a whole copy of the result.
func TestCacheEntry_gatewayParamsInExtraFields(t *testing.T) {
	g := gateway.NewParams(nil, "openai", providers.NewSecret("sk-user"))
	p := Provider{ID: providers.Gateway, APIKey: providers.NewSecret("vck-team"), BaseURL: defaultURL(providers.Gateway), BaseURLSource: SourceDefault, gateway: g}
	e := newEntry("", p, GatewayBYOK, 42, nil)
	if e.x == nil || e.x.full != nil || e.x.gateway != g {
		t.Fatalf("entry extra = %+v, want the params in the extra fields", e.x)
	}
	if q, path := e.result(); q.gateway != g || path != GatewayBYOK {
		t.Errorf("result = %v %q", q.gateway, path)
	}
}
