package resolve

import "net/http"

// WithAfterFunc replaces the cache's expiry timers, so tests can expire entries
// without sleeping.
var WithAfterFunc = withAfterFunc

// HTTPClientOver is Provider.HTTPClient over base instead of the guarded transport, so
// tests can reach local servers through everything else HTTPClient sets up.
func HTTPClientOver(p Provider, base http.RoundTripper) *http.Client { return p.client(base) }

// Catalogs are the generated catalog tables, by the list file they come from.
var Catalogs = map[string][]string{
	"gateway.txt":   gatewayCatalog[:],
	"anthropic.txt": anthropicCatalog[:],
	"openai.txt":    openaiCatalog[:],
}
