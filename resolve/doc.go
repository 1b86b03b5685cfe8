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
// The Resolver reads through [KeyStore] (the user's keys and gateway base URL),
// [ConsentStore] (the user's consent) and [TeamConfig] (the team's gateway key and the
// server's keys; [Team] holds them in memory). A KeyStore that also implements
// [Snapshotter] answers a whole resolution in one round trip; one that implements
// [KeyHealth] keeps the marks of broken keys. Package resolvetest has in-memory fakes.
//
// # Rules
//
//   - Order: the user's gateway key (path user-gateway), the user's provider keys in the
//     order of [WithOrder] (user-provider), the team gateway key (team-gateway), the
//     server's provider keys in the same order (server-provider).
//   - Consent gates both team paths. It is read only when no user credential applies and
//     a team credential exists (or for gateway-byok); a ConsentStore answering
//     ErrNotFound counts as the database default, true. Consent off gives
//     [ErrFallbackDisabled].
//   - With [WithGatewayBYOK], a consenting user whose first key is an OpenAI, Anthropic
//     or xAI key is served through the team gateway with that key as the gateway's
//     per-request BYOK credential (path gateway-byok). The user's own gateway key still
//     comes first.
//   - Absent (ErrNotFound, or an empty key or URL with a nil error) falls through; any
//     other store error stops resolution with [ErrStoreUnavailable].
//   - A user's or the team's gateway base URL must pass providers.CheckGatewayURL with
//     the hosts of [WithAllowedGatewayHosts]; otherwise resolution stops with
//     [ErrBaseURLRejected] and no later path is tried.
//   - A key marked broken stops resolution with [ErrKeyBroken], or counts as absent with
//     [WithSkipBrokenKeys]; it never turns into team spend without consent.
//   - With [WithCache], successes are cached per (user, model hint), concurrent misses
//     share one resolution bounded by the store timeout ([WithStoreTimeout]), and
//     [Resolver.Invalidate] and [Resolver.InvalidateAll] drop entries at once; a failed
//     resolution leaves nothing behind. [WithInvalidation] wires a fleet in one step.
//   - A [Snapshotter] that names a service it was not asked for, or names one without a
//     key, is treated as a failing store.
//
// # Model hints
//
// [WithModel] passes a hint ("anthropic/claude-sonnet-4.5", "gpt-4o", ...). Providers
// that cannot serve it are skipped on the provider paths, and [Provider.Model] carries
// the id the chosen provider accepts. Package github.com/byok-go/byok/models has the
// rules and the catalogs they come from; [WithVendorSlug] and [WithModelID] override
// them per Resolver.
//
// # Calling the provider
//
// [Provider.BaseURL] is the base URL the provider's official SDK takes (the
// OpenAI-compatible APIs end in /v1, Anthropic's is https://api.anthropic.com). Send
// requests through [Provider.HTTPClient] or [Provider.Transport]: they go only to
// BaseURL's scheme and host, every credential header an SDK or its environment set is
// replaced by the resolved key, and HTTPClient connects to public addresses only. The
// modules github.com/byok-go/byok/sdk/openai and .../sdk/anthropic give the official
// SDKs the same. On a gateway Provider the Transport also writes the gateway options (package
// github.com/byok-go/byok/gateway; [WithDefaultGatewayOptions], [WithGatewayOptions])
// and, on gateway-byok, the user's key into every JSON POST body, and refuses with
// gateway.ErrBody a body that would loosen the compliance controls or drop the key.
//
// # Who paid
//
// [WithTeamUsage] counts the requests [Provider.Transport] sends on the team paths per
// user, UTC day, path and provider, in memory, and hands the counts to a [UsageSink]
// every flush interval; [Resolver.Close] flushes the rest. Package usage stores them in
// Supabase, next to a record of every change of the user's consent.
// [WithGatewayAttribution] sends a keyed pseudonym of the user id to the gateway on the
// team gateway paths, so its reports and quotas can tell users apart without learning
// who they are.
//
// # Key health
//
// With [WithKeyHealth], the Resolver learns from the providers' answers which of its
// users' keys are broken, marks them in the KeyStore (a [KeyHealth]) and stops serving
// them:
//
//   - The Providers it resolves report the answers to requests sent through
//     [Provider.Transport], which the SDK adapters use; [Resolver.ReportOutcome] does the
//     same for requests sent by other means.
//   - An answer of status 400 to 499 is read with providers.ClassifyFailure, from its
//     status and the first 64 KiB of its body, copied aside as the caller reads it: the
//     caller reads every byte as sent, when sent. The copy is classified on another
//     goroutine once the caller has read to the end; a body closed before its end is
//     read on by that goroutine for at most 5 seconds. A body whose read fails, or that
//     is closed during a read, is not classified. Any other answer is handed over
//     untouched.
//   - A failure whose Breaks is true (invalid key, no credit, no permission) on the path
//     user-gateway or user-provider marks the user's key: the Resolver drops the user's
//     cached results at once and calls ReportKeyFailure off the request's path, at most
//     once a minute per key and process, with at most 16 reports in progress (more are
//     dropped and counted, never queued). model_not_allowed and rate_limited never mark.
//   - Team and server credentials are never marked: they are the operator's, who has
//     [MetricKeyFailures]. Neither is the user's key on gateway-byok: the gateway retries
//     a request whose per-request BYOK credential failed on its own system credentials,
//     so no answer reliably blames the user's key.
//   - Resolution refuses a marked key with [ErrKeyBroken] (or skips it with
//     [WithSkipBrokenKeys]) with or without WithKeyHealth, since the mark may come from
//     another replica, which learns of it from its invalidation source. Storing the key
//     again clears its mark.
//
// # Errors and telemetry
//
// Resolve's errors are *[Error] values that match, with errors.Is, the package's
// sentinels, gateway.ErrInvalidOptions or the context's error. Their texts never
// contain a key, a store's error text or a URL. Each Resolve records one span named
// "providers.resolve" (see [SpanName]) with the attributes path, provider, baseUrlHost,
// baseUrlSource, model (when a hint was given) and cache.hit (when a cache is on); on
// failure its status is Error with the error's text and the attribute error.type. The
// metrics are the Metric constants, recorded through [WithMeterProvider]. No key,
// header, URL or user id is ever recorded.
package resolve
