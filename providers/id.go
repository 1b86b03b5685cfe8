package providers

import (
	"errors"
	"fmt"
	"strings"
)

// ID names a credential provider. The zero value is not a valid ID.
type ID string

// The five providers byok knows. Gateway is the Vercel AI Gateway; the others are
// vendors' own APIs (OpenRouter is itself a router, but holds a per-user key like a vendor).
const (
	Gateway    ID = "gateway"
	OpenAI     ID = "openai"
	OpenRouter ID = "openrouter"
	Anthropic  ID = "anthropic"
	XAI        ID = "xai"
)

// ErrUnknown is matched (with errors.Is) by the error [Parse] returns for a string
// that names none of the five providers.
var ErrUnknown = errors.New("providers: unknown provider")

// Spec is what byok knows about a provider without asking anyone.
//
// BaseURL is the base URL the provider's official SDK takes: the OpenAI-compatible
// APIs (gateway, openai, openrouter, xai) end in /v1 and serve {base}/chat/completions;
// Anthropic's is https://api.anthropic.com, and its API lives under {base}/v1/.
type Spec struct {
	ID      ID
	BaseURL string // the provider's default API base URL, without a trailing slash
	EnvVar  string // the environment variable that holds the server's (team's) key
}

// specs holds one Spec per provider, in the order All returns them.
var specs = [...]Spec{
	{ID: Gateway, BaseURL: "https://ai-gateway.vercel.sh/v1", EnvVar: "AI_GATEWAY_API_KEY"},
	{ID: OpenAI, BaseURL: "https://api.openai.com/v1", EnvVar: "OPENAI_API_KEY"},
	{ID: OpenRouter, BaseURL: "https://openrouter.ai/api/v1", EnvVar: "OPENROUTER_API_KEY"},
	{ID: Anthropic, BaseURL: "https://api.anthropic.com", EnvVar: "ANTHROPIC_API_KEY"},
	{ID: XAI, BaseURL: "https://api.x.ai/v1", EnvVar: "XAI_API_KEY"},
}

// Spec returns the provider's Spec; ok is false for an unknown ID.
func (id ID) Spec() (Spec, bool) {
	for _, s := range specs {
		if s.ID == id {
			return s, true
		}
	}
	return Spec{}, false
}

// Valid reports whether id is one of the five providers.
func (id ID) Valid() bool {
	_, ok := id.Spec()
	return ok
}

// String returns the ID as written in stores and on the wire ("openai", ...).
func (id ID) String() string { return string(id) }

// Parse trims and lower-cases s and returns the provider it names. Any other string
// gives an error matching [ErrUnknown]; the error quotes s only when it is short and
// printable, so a key pasted into the wrong field is never echoed.
func Parse(s string) (ID, error) {
	id := ID(strings.ToLower(strings.TrimSpace(s)))
	if id.Valid() {
		return id, nil
	}
	return "", &unknownError{name: safeName(string(id))}
}

// All returns the five providers, gateway first (a fresh slice each call).
func All() []ID {
	ids := make([]ID, len(specs))
	for i, s := range specs {
		ids[i] = s.ID
	}
	return ids
}

// DefaultOrder returns the order in which a user's or the server's provider keys are
// tried: openai, openrouter, anthropic, xai (a fresh slice each call).
func DefaultOrder() []ID {
	return []ID{OpenAI, OpenRouter, Anthropic, XAI}
}

type unknownError struct{ name string }

func (e *unknownError) Error() string {
	if e.name == "" {
		return ErrUnknown.Error()
	}
	return fmt.Sprintf("%v %q", ErrUnknown, e.name)
}

func (e *unknownError) Unwrap() error { return ErrUnknown }

// safeName returns s when it looks like a provider name someone mistyped (short,
// lower-case letters, digits, '-', '_', '.'), and "" otherwise.
func safeName(s string) string {
	if len(s) == 0 || len(s) > 20 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return ""
		}
	}
	return s
}
