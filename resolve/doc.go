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
// round trip; one that implements [KeyHealth] keeps the broken marks of Key health.
// Package resolvetest has in-memory fakes of all of them.
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
//   - [WithInvalidation] wires a fleet in one step: it registers the Resolver with a
//     source of invalidations (a pgnotify.Listener, which hears every change made
//     through any replica) and turns the cache off whenever that source is not
//     connected. [WithCacheGate] sets such a condition by hand.
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
// A gateway Provider carries the effective gateway options (package
// github.com/byok-go/byok/gateway): [WithDefaultGatewayOptions] with the call's
// [WithGatewayOptions] over them, validated, with Models mapped like [WithModel] hints.
// Vendor paths carry none. [Provider.Transport] writes them, and on gateway-byok the
// user's key, into providerOptions.gateway of every JSON POST body; a body they cannot
// be merged into, or that would loosen their compliance controls or drop the user's
// key, is refused with gateway.ErrBody before anything is sent, and so is, on
// gateway-byok, a request with a body that is not a JSON POST (gateway.Params.Apply has
// the rules). The BYOK slugs
// are those of gateway.BYOKSlugs; [WithGatewayProviderSlug] overrides them. A
// Snapshotter that returns the consent lets gateway-byok cost no extra round trip; a
// cached gateway-byok result is dropped by [Resolver.Invalidate] like any other, and
// both the user's key and their consent are inputs to it.
//
// # Who paid
//
// [WithTeamUsage] counts the requests that [Provider.Transport] sends on the team paths
// (team-gateway, server-provider, gateway-byok) per user, UTC day, path and provider,
// and hands the counts to a [UsageSink] every flush interval from a background
// goroutine; [Resolver.Close] stops it and flushes the rest. Counting is an in-memory
// increment on a sharded map, never a store call; the counters are bounded, and a count
// past the bound is dropped and recorded in [MetricUsageDropped]. Package usage stores
// the counts in Supabase, next to a record of every change of the user's consent.
// [WithGatewayAttribution] sends a keyed pseudonym of the user id ([GatewayPseudonym])
// as the gateway options user and quotaEntityId on team-gateway and gateway-byok, so
// the gateway's own reports and quotas can tell users apart without learning who they
// are.
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
//     is closed during a read, is not classified. Any other answer, a 2xx among them, is
//     handed over untouched.
//   - A failure whose Breaks is true (invalid key, no credit, no permission) on the path
//     user-gateway or user-provider marks the user's key: the Resolver drops the user's
//     cached results at once and calls ReportKeyFailure off the request's path, at most
//     once a minute per key and process, with at most 16 reports in progress (more are
//     dropped and counted, never queued). model_not_allowed and rate_limited never mark.
//   - Team and server credentials are never marked: they are the operator's, who has
//     [MetricKeyFailures]. Neither is the user's key on gateway-byok: the gateway's
//     answer judges the team's gateway key, and the gateway retries a request whose
//     per-request BYOK credential failed on its own system credentials, so no answer
//     reliably blames the user's key.
//   - Resolution refuses a marked key with [ErrKeyBroken], naming the provider and the
//     failure: it never falls through to the user's other keys or the team's
//     credentials. With [WithSkipBrokenKeys] a marked key counts as absent. Both hold
//     with or without WithKeyHealth, since the mark may come from another replica.
//     Storing the key again clears its mark.
//   - Other replicas learn of a mark from their invalidation source, like any change.
//
// # Errors
//
// Resolve's errors are *[Error] values that match the package's sentinels with
// errors.Is: [ErrNoProvider], [ErrFallbackDisabled], [ErrStoreUnavailable],
// [ErrBaseURLRejected], [ErrKeyBroken], [ErrInvalidUserID], [ErrInvalidModel],
// gateway.ErrInvalidOptions, [ErrInvalidConfig], or the context's error. Their texts
// never contain a key, a store's error text or a URL.
//
// # Telemetry
//
// Each Resolve records one span named "providers.resolve" with the attributes path,
// provider, baseUrlHost, baseUrlSource, model (when a hint was given) and cache.hit
// (when a cache is on); on failure the span status is Error with the error's text and
// the attribute error.type. Metrics go through the MeterProvider of
// [WithMeterProvider]: [MetricResolutions] and [MetricStoreDuration], and with
// [WithKeyHealth] [MetricKeyFailures] and [MetricKeyReports], and with [WithTeamUsage]
// [MetricUsageDropped] and [MetricUsageFlushes]. No key, header, URL or
// user id is ever recorded.
package resolve
