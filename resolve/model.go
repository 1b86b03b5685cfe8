package resolve

import (
	"strings"
	"unicode"

	"github.com/byok-go/byok/providers"
)

// maxModelLen bounds a model hint; real model ids are far shorter.
const maxModelLen = 256

// model is a parsed model hint.
type model struct {
	raw    string // the hint as given (trimmed); "" = no hint
	vendor string // lower-case vendor; "" when unknown
	id     string // the model id without vendor
}

// parseModel parses a hint: "vendor/model" or a bare model id whose vendor is inferred
// from its prefix.
func parseModel(hint string) (model, error) {
	hint = strings.TrimSpace(hint)
	if hint == "" {
		return model{}, nil
	}
	if len(hint) > maxModelLen || strings.IndexFunc(hint, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return model{}, &Error{Step: StepInput, Kind: ErrInvalidModel}
	}
	m := model{raw: hint}
	if vendor, id, ok := strings.Cut(hint, "/"); ok {
		if vendor == "" || id == "" {
			return model{}, &Error{Step: StepInput, Kind: ErrInvalidModel}
		}
		m.vendor, m.id = strings.ToLower(vendor), id
		return m, nil
	}
	m.id = hint
	m.vendor = inferVendor(hint)
	return m, nil
}

// inferVendor maps a bare model id to its vendor by prefix; "" when unknown.
func inferVendor(id string) string {
	id = strings.ToLower(id)
	for _, p := range [...]struct{ prefix, vendor string }{
		{"gpt-", "openai"}, {"chatgpt-", "openai"}, {"o1", "openai"}, {"o3", "openai"}, {"o4", "openai"},
		{"claude-", "anthropic"},
		{"grok-", "xai"},
	} {
		if strings.HasPrefix(id, p.prefix) {
			return p.vendor
		}
	}
	return ""
}

// forProvider returns the model string to send to provider id, and whether id can
// serve the hint at all. Without a hint every provider serves and the model is "".
func (m model) forProvider(id providers.ID) (string, bool) {
	if m.raw == "" {
		return "", true
	}
	switch id {
	case providers.Gateway, providers.OpenRouter: // routers: every vendor
		if m.vendor == "" {
			return m.id, true
		}
		return m.vendor + "/" + m.id, true
	default: // a vendor's own API: its own models, or a model of unknown vendor
		if m.vendor == "" || m.vendor == string(id) {
			return m.id, true
		}
		return "", false
	}
}
