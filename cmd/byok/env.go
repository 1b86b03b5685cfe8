package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/byok-go/byok/providers"
)

// Environment variables the env check reads besides the providers' key variables.
const (
	envGatewayURL     = "AI_GATEWAY_URL"
	envAllowedHosts   = "AI_GATEWAY_ALLOWED_HOSTS"
	envServiceRoleKey = "SUPABASE_SERVICE_ROLE_KEY"
	envSecretKey      = "SUPABASE_SECRET_KEY"
)

// secretEnv are the variables the doctor reads whose values it must never print; every
// one is scrubbed from its output.
var secretEnv = func() []string {
	names := append([]string{}, urlSources...)
	for _, id := range providers.All() {
		spec, _ := id.Spec()
		names = append(names, spec.EnvVar)
	}
	return append(names, envGatewayURL, envAllowedHosts, envServiceRoleKey, envSecretKey)
}()

// The public markers of Supabase's API keys.
const (
	publishablePrefix = "sb_publishable_"
	secretPrefix      = "sb_secret_"
)

const apiKeysPage = "Supabase Dashboard, Project Settings, API Keys"

// checkEnv checks the server's variables against the rules byok applies. It prints no
// value: a key is described by its public prefix or its JWT role claim, a URL or host by
// the rule it breaks.
func (d *doctor) checkEnv(_ context.Context, r *result) {
	get := func(name string) string { return strings.TrimSpace(d.getenv(name)) }
	gatewaySpec, _ := providers.Gateway.Spec()

	// The team gateway key.
	switch key := get(gatewaySpec.EnvVar); {
	case key == "":
		r.warn(gatewaySpec.EnvVar+" is not set: no team gateway fallback; a user without keys of their own gets no provider even with consent ON",
			"set "+gatewaySpec.EnvVar+" on the server if consenting users should fall back to the team's Vercel AI Gateway (optional)")
	case providers.CheckKey(key) != nil:
		r.fail(gatewaySpec.EnvVar+" is not a key byok accepts (1 to 1024 printable ASCII characters without white space)",
			"set "+gatewaySpec.EnvVar+" again without quotes, spaces or line breaks")
	default:
		r.pass("%s is set: consenting users without keys fall back to the team gateway", gatewaySpec.EnvVar)
	}

	// The hosts allowed besides ai-gateway.vercel.sh, as resolve.WithAllowedGatewayHosts
	// checks them, then the team gateway URL against the URL policy.
	var allowed []string
	for i, h := range strings.Split(get(envAllowedHosts), ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if _, err := providers.CheckGatewayURL("https://"+h, h); err != nil || strings.ContainsAny(h, "/:@[]") {
			r.fail(fmt.Sprintf("%s: entry %d is not a public host name, so the Resolver refuses its configuration", envAllowedHosts, i+1),
				"list bare public host names, comma-separated (gw.example.com), in "+envAllowedHosts)
			continue
		}
		allowed = append(allowed, h)
	}
	if u := get(envGatewayURL); u != "" {
		if _, err := providers.CheckGatewayURL(u, allowed...); err != nil {
			var ue *providers.URLError
			reason := "invalid"
			if errors.As(err, &ue) {
				reason = ue.Reason
			}
			r.fail(envGatewayURL+" breaks the gateway URL policy ("+reason+"): team gateway requests are refused", gatewayURLFix(reason))
		} else {
			r.pass("%s passes the gateway URL policy", envGatewayURL)
		}
	} else {
		r.pass("%s is not set: the team gateway is %s", envGatewayURL, gatewaySpec.BaseURL)
	}

	// The server's fallback keys: format only.
	var set []string
	for _, id := range providers.All() {
		if id == providers.Gateway {
			continue
		}
		spec, _ := id.Spec()
		key := get(spec.EnvVar)
		if key == "" {
			continue
		}
		if providers.CheckKey(key) != nil {
			r.fail(spec.EnvVar+" is not a key byok accepts (1 to 1024 printable ASCII characters without white space)",
				"set "+spec.EnvVar+" again without quotes, spaces or line breaks")
			continue
		}
		set = append(set, spec.EnvVar)
	}
	if len(set) > 0 {
		r.pass("server fallback keys well-formed: %s", strings.Join(set, ", "))
	} else {
		r.pass("no server fallback keys set")
	}

	// The Supabase key: the service role's, never the publishable or anon one.
	seen := false
	for _, name := range []string{envSecretKey, envServiceRoleKey} {
		key := get(name)
		if key == "" {
			continue
		}
		seen = true
		supabaseKey(r, name, key)
	}
	if !seen {
		r.pass("no Supabase key set (%s, %s): fine when the service reaches the database directly (pgcall)", envSecretKey, envServiceRoleKey)
	}
}

// supabaseKey judges one Supabase key variable by its shape.
func supabaseKey(r *result, name, key string) {
	fix := "set " + name + " to the project's secret key (" + secretPrefix + "...) or legacy service_role key: " + apiKeysPage
	switch {
	case strings.HasPrefix(key, publishablePrefix):
		r.fail(name+" is a publishable key ("+publishablePrefix+"...): requests with it run as anon, and every byok RPC refuses them (401/403)", fix)
	case strings.HasPrefix(key, secretPrefix):
		r.pass("%s is a secret key (%s...)", name, secretPrefix)
	case strings.Count(key, ".") == 2:
		switch role := jwtRole(key); role {
		case "service_role":
			r.pass("%s is a legacy JWT with role service_role", name)
		case "anon", "authenticated":
			r.fail(fmt.Sprintf("%s is a legacy JWT with role %s, not service_role: every byok RPC refuses it (401/403)", name, role), fix)
		case "":
			r.warn(name+" looks like a JWT, but its payload has no readable role claim", fix)
		default:
			r.warn(name+" is a legacy JWT with an unexpected role claim, not service_role", fix)
		}
	default:
		r.warn(name+" is neither a secret key ("+secretPrefix+"...) nor a legacy JWT", fix)
	}
}

// jwtRole returns the role claim of a JWT's payload, without verifying it, or "".
func jwtRole(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return ""
	}
	var claims struct {
		Role string `json:"role"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Role
}

// gatewayURLFix is the fix for a team gateway URL the policy rejects.
func gatewayURLFix(reason string) string {
	switch reason {
	case providers.ReasonHostNotAllowed:
		return "unset " + envGatewayURL + " for https://ai-gateway.vercel.sh/v1, or add its host to " + envAllowedHosts
	case providers.ReasonNonHTTPS:
		return "use an https:// URL in " + envGatewayURL
	case providers.ReasonCredentials:
		return "remove user:password@ from " + envGatewayURL + ": the key goes in " + "AI_GATEWAY_API_KEY"
	case providers.ReasonPortNotAllowed:
		return "use port 443 (no port) in " + envGatewayURL
	case providers.ReasonQueryOrFragment:
		return "remove the ?query or #fragment from " + envGatewayURL
	case providers.ReasonPrivateHost:
		return "a gateway must be on a public host: fix " + envGatewayURL
	}
	return "set " + envGatewayURL + " to an absolute https URL, or unset it for https://ai-gateway.vercel.sh/v1"
}
