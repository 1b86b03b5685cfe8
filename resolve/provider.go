package resolve

import (
	"log/slog"
	"net/http"

	"github.com/byok-go/byok/gateway"
	"github.com/byok-go/byok/internal/egress"
	"github.com/byok-go/byok/providers"
)

// Path says which resolution path produced a credential.
type Path string

// The paths, in the order Resolve tries them. GatewayBYOK takes the place of
// UserProvider for a consenting user when the Resolver has [WithGatewayBYOK] and the
// team a gateway key.
const (
	UserGateway    Path = "user-gateway"    // the user's own Vercel AI Gateway key
	UserProvider   Path = "user-provider"   // the user's own provider key
	GatewayBYOK    Path = "gateway-byok"    // the team gateway, the user's provider key as per-request BYOK (needs consent)
	TeamGateway    Path = "team-gateway"    // the team's gateway key (needs consent)
	ServerProvider Path = "server-provider" // the server's provider key (needs consent)
)

// Base URL sources, as in [Provider.BaseURLSource].
const (
	SourceDefault = "default" // the provider's default base URL
	SourceUser    = "user"    // the user's stored gateway base URL
	SourceTeam    = "team"    // the team's AI_GATEWAY_URL
)

// AnthropicVersion is the anthropic-version header [Provider.Authorize] sends.
const AnthropicVersion = providers.AnthropicVersion

// Provider is a resolved credential: where to send a request and with which key.
// Printing or logging it never shows the key.
//
// A gateway Provider may also carry gateway options ([Provider.GatewayOptions]) and, on
// the gateway-byok path, the user's provider key as per-request BYOK
// ([Provider.GatewayBYOK]); [Provider.Transport] writes them into the request body. They
// live in an unexported field: a Provider built by hand carries none, and printing one
// shows no key.
type Provider struct {
	ID            providers.ID     // gateway for the gateway paths
	APIKey        providers.Secret // the key; see Authorize. On gateway-byok: the team's gateway key
	BaseURL       string           // always set: the default or the validated override
	BaseURLSource string           // SourceDefault, SourceUser or SourceTeam
	Model         string           // "" unless the call passed WithModel

	gateway *gateway.Params // gateway options and per-request BYOK; nil: none
	origin  *origin         // the Resolver, user and path it came from, when they watch its requests; nil: none
}

// Authorize sets the provider's authentication headers on h, as providers.Authorize
// does: x-api-key and anthropic-version for Anthropic, "Authorization: Bearer <key>" for
// every other provider. It removes the other scheme's header, so a reused header set
// never carries a second key. With no key it only removes them.
func (p Provider) Authorize(h http.Header) { providers.Authorize(h, p.ID, p.APIKey) }

// BaseURLHost returns the host of BaseURL (no scheme, port or path), as recorded in
// telemetry.
func (p Provider) BaseURLHost() string { return egress.HostOf(p.BaseURL) }

// LogValue implements [slog.LogValuer]: the provider, base-URL host and source and the
// model; never the key or the full URL.
func (p Provider) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("provider", string(p.ID)),
		slog.String("baseUrlHost", p.BaseURLHost()),
		slog.String("baseUrlSource", p.BaseURLSource),
	}
	if p.Model != "" {
		attrs = append(attrs, slog.String("model", p.Model))
	}
	return slog.GroupValue(attrs...)
}
