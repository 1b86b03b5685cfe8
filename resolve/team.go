package resolve

import (
	"context"
	"os"
	"strings"

	"github.com/byok-go/byok/providers"
)

// Team is the usual [TeamConfig]: the team's gateway key and base URL and the server's
// provider keys, held in memory. The zero Team has no credentials.
type Team struct {
	GatewayKey providers.Secret                  // AI_GATEWAY_API_KEY; zero = no team gateway
	GatewayURL string                            // AI_GATEWAY_URL; "" = the default gateway URL
	ServerKeys map[providers.ID]providers.Secret // OPENAI_API_KEY, ...; absent or zero = unset
}

var _ TeamConfig = Team{}

// TeamFromEnv reads AI_GATEWAY_API_KEY, AI_GATEWAY_URL, OPENAI_API_KEY,
// OPENROUTER_API_KEY, ANTHROPIC_API_KEY and XAI_API_KEY. Empty or white-space values
// count as unset. The URL is not checked here: Resolve applies the URL policy when the
// team gateway is used, and fails with ErrBaseURLRejected if it is unsafe.
func TeamFromEnv() Team { return TeamFromLookup(os.Getenv) }

// TeamFromLookup is TeamFromEnv reading the variables with getenv instead of
// os.Getenv, for configuration kept elsewhere and for tests.
func TeamFromLookup(getenv func(string) string) Team {
	t := Team{ServerKeys: map[providers.ID]providers.Secret{}}
	for _, id := range providers.All() {
		spec, _ := id.Spec()
		key := providers.NewSecret(getenv(spec.EnvVar))
		if key.IsZero() {
			continue
		}
		if id == providers.Gateway {
			t.GatewayKey = key
		} else {
			t.ServerKeys[id] = key
		}
	}
	t.GatewayURL = strings.TrimSpace(getenv("AI_GATEWAY_URL"))
	return t
}

// TeamGateway implements [TeamConfig].
func (t Team) TeamGateway(ctx context.Context) (providers.Secret, string, error) {
	if err := ctx.Err(); err != nil {
		return providers.Secret{}, "", err
	}
	if t.GatewayKey.IsZero() {
		return providers.Secret{}, "", ErrNotFound
	}
	return t.GatewayKey, strings.TrimSpace(t.GatewayURL), nil
}

// ServerKey implements [TeamConfig].
func (t Team) ServerKey(ctx context.Context, id providers.ID) (providers.Secret, error) {
	if err := ctx.Err(); err != nil {
		return providers.Secret{}, err
	}
	if k := t.ServerKeys[id]; !k.IsZero() {
		return k, nil
	}
	return providers.Secret{}, ErrNotFound
}
