// Package resolve chooses the credential for one user's request to an LLM provider.
//
// A [Resolver] tries, in order, the user's own Vercel AI Gateway key, the user's own
// provider keys (OpenAI, OpenRouter, Anthropic, xAI), the team's gateway key and the
// server's provider keys. The two team paths are used only when the user consents to
// team fallback. Any store failure stops resolution (fail closed): an outage never
// turns into team spend. A Resolver is safe for concurrent use.
//
// # Stores
//
// The Resolver reads through three small interfaces: [KeyStore] (the user's keys and
// gateway base URL), [ConsentStore] (the user's consent) and [TeamConfig] (the team's
// gateway key and the server's keys; [Team] is the usual in-memory implementation).
// A KeyStore that also implements [Snapshotter] answers a whole resolution in one
// round trip. Package resolvetest has in-memory fakes of all of them.
//
// # Rules
//
//   - Order: the user's gateway key (path user-gateway), the user's provider keys in the
//     order of [WithOrder] (user-provider), the team gateway key (team-gateway), the
//     server's provider keys in the same order (server-provider).
//   - Consent gates both team paths. It is read only when no user credential applies and
//     a team credential exists (or for gateway-byok, below); a ConsentStore answering
//     ErrNotFound counts as the database default, true. Consent off gives
//     [ErrFallbackDisabled].
//   - With [WithGatewayBYOK], a user whose first key (in the order) is an OpenAI,
//     Anthropic or xAI key is served on the path gateway-byok when the team has a gateway
//     key and the user consents: the team gateway, with the user's key as the gateway's
//     per-request BYOK credential. Consent off, no team gateway, or an OpenRouter key
//     (the gateway has no BYOK slug for OpenRouter) gives user-provider, as without the
//     option. The user's own gateway key still comes first.
//   - Absent (ErrNotFound, or an empty key or URL with a nil error) falls through; any
//     other store error stops resolution with [ErrStoreUnavailable].
//   - A user's or the team's gateway base URL must pass providers.CheckGatewayURL with
//     the hosts of [WithAllowedGatewayHosts]; otherwise resolution stops with
//     [ErrBaseURLRejected] and no later path is tried.
//   - [WithModel] skips providers that cannot serve the model on the provider paths and
//     sets [Provider.Model] to an id the chosen provider accepts (see Model hints).
//   - With [WithCache], successes are cached per (user, model hint). Concurrent misses
//     share one resolution, which runs without the callers' cancellation but within the
//     store timeout ([WithStoreTimeout], 10 s by default, which bounds every resolution's
//     store work), and each caller still returns when its own ctx ends.
//     [Resolver.Invalidate] drops a user's entries and [Resolver.InvalidateAll] every
//     entry; a resolution in flight at that moment does not put its result back. A failed
//     resolution leaves nothing behind.
//   - [WithCacheGate] turns the cache off while a condition does not hold: the cache is
//     then neither read nor written. With a pgnotify.Listener's Connected as the gate, a
//     change made through any replica reaches every replica's cache.
//   - A [Snapshotter] that names a service it was not asked for, or names one without a
//     key, is treated as a failing store.
//
// # Model hints
//
// A hint is "vendor/model" or a bare model id. The vendor slugs xai, x-ai and spacexai
// (the gateway's current one) all name xAI. A bare id's vendor is the one whose catalog
// lists it; else it is inferred from the id's prefix (gpt-, chatgpt-, codex-, o1, o3, o4:
// openai; claude-: anthropic; grok-: xai; gemini-, gemma-: google); else it is unknown.
//
//   - The gateway serves every hint. [Provider.Model] is the gateway's slug for the
//     vendor, "/", and the gateway catalog's spelling of the id
//     (anthropic/claude-sonnet-4.5, spacexai/grok-4.3). A bare id of an unknown vendor
//     is passed unchanged: the gateway routes by its own catalog.
//   - OpenRouter serves every hint of a known vendor, spelled as on the gateway but with
//     OpenRouter's slugs (x-ai/grok-4.3).
//   - OpenAI, Anthropic and xAI serve their own vendor's models only, as their own
//     catalogs spell them, without the vendor (claude-sonnet-4-5 on Anthropic's API).
//   - So a bare id of an unknown vendor never goes to a vendor API or OpenRouter; only
//     a gateway path may serve it.
//   - One model, many spellings: vendor/model or bare, dotted or hyphenated versions
//     (claude-sonnet-4.5, claude-sonnet-4-5), any letter case all map to the target's id.
//     A model no catalog lists is sent as given, but for Anthropic's version
//     convention: hyphens on its own API, dots on the gateway and OpenRouter. A dated id
//     that a target's catalog does not list is not swapped for another.
//   - The catalogs are those the providers ship, recorded with their versions in
//     testdata/catalogs: the model list of npm @ai-sdk/gateway, and the model constants
//     of anthropic-sdk-go and openai-go. [WithVendorSlug] and [WithModelID] override a
//     router's slug for a vendor and the id sent for a model.
//   - Providers that cannot serve the hint are skipped on the provider paths; when none
//     can, Resolve fails with [ErrNoProvider]. Without a hint Model is "" and no provider
//     is skipped.
//
// # Calling the provider
//
// [Provider.BaseURL] is the base URL the provider's official SDK takes: the
// OpenAI-compatible APIs end in /v1, Anthropic's is https://api.anthropic.com. Send
// requests through [Provider.HTTPClient] or [Provider.Transport]: they go only to
// BaseURL's scheme and host (anything else fails with providers.ErrEgressDenied), every
// credential header an SDK or its environment set is replaced by the resolved key, and
// HTTPClient connects to public addresses only. The adapters in the modules
// github.com/byok-go/byok/sdk/openai and .../sdk/anthropic give the official SDKs the
// same.
//
// # Gateway options and per-request BYOK
//
// The Vercel AI Gateway reads providerOptions.gateway from the JSON body of its
// OpenAI-compatible endpoints (/v1/chat/completions, /v1/responses). The members byok
// writes, and their meaning, are those of npm @ai-sdk/gateway 4.0.146 (type
// GatewayProviderOptions in dist/index.d.ts, and its docs/00-ai-gateway.mdx):
//
//   - order: provider slugs tried in that order; only: the only provider slugs allowed;
//   - models: fallback models tried after the primary, as gateway model ids;
//   - user: the end user the request is attributed to; tags: usage-report tags;
//   - zeroDataRetention, disallowPromptTraining: route only to providers with such
//     agreements;
//   - byok: per-request credentials by provider slug, {"anthropic": [{"apiKey": "..."}]}.
//     The gateway then ignores the team's stored BYOK credentials but "may still fall
//     back to use system credentials if the provided credentials fail": team spend.
//
// A gateway Provider carries the effective options: [WithDefaultGatewayOptions] with the
// call's [WithGatewayOptions] over them, validated (the limits are byok's own, listed at
// [GatewayOptions]; the gateway documents none) and with Models mapped like [WithModel]
// hints. Vendor paths carry none. [Provider.Transport] writes them, and on gateway-byok the
// user's key, into providerOptions.gateway of every JSON POST body. The conflict rule: the
// body's own members win, member by member, then the call's options, then the defaults;
// byok is merged by slug, so a body that sets byok for the same slug keeps its own
// credential. The BYOK slugs are "openai" and "anthropic" (the gateway's documented
// examples) and, for xAI, the gateway's current vendor slug (spacexai in the catalog
// above); [WithGatewayProviderSlug] overrides them. A Snapshotter that returns the
// consent lets gateway-byok cost no extra round trip; a cached gateway-byok result is
// dropped by [Resolver.Invalidate] like any other, and both the user's key and their
// consent are inputs to it.
//
// # Errors
//
// Resolve's errors are *[Error] values that match the package's sentinels with
// errors.Is: [ErrNoProvider], [ErrFallbackDisabled], [ErrStoreUnavailable],
// [ErrBaseURLRejected], [ErrInvalidUserID], [ErrInvalidModel],
// [ErrInvalidGatewayOptions], [ErrInvalidConfig], or the context's error. Their texts
// never contain a key, a store's error text or a URL. A request body the gateway options
// cannot be merged into fails in the Transport with [ErrGatewayBody].
//
// # Telemetry
//
// Each Resolve records one span named "providers.resolve" with the attributes path,
// provider, baseUrlHost, baseUrlSource, model (when a hint was given) and cache.hit
// (when a cache is on); on failure the span status is Error with the error's text and
// the attribute error.type. Metrics go through the MeterProvider of
// [WithMeterProvider]: [MetricResolutions] and [MetricStoreDuration]. No key, header,
// URL or user id is ever recorded.
package resolve
