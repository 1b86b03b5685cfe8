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
//     a team credential exists; a ConsentStore answering ErrNotFound counts as the
//     database default, true. Consent off gives [ErrFallbackDisabled].
//   - Absent (ErrNotFound, or an empty key or URL with a nil error) falls through; any
//     other store error stops resolution with [ErrStoreUnavailable].
//   - A user's or the team's gateway base URL must pass providers.CheckGatewayURL with
//     the hosts of [WithAllowedGatewayHosts]; otherwise resolution stops with
//     [ErrBaseURLRejected] and no later path is tried.
//   - [WithModel] skips providers that cannot serve the model on the provider paths and
//     sets [Provider.Model] in the chosen provider's form.
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
// # Errors
//
// Resolve's errors are *[Error] values that match the package's sentinels with
// errors.Is: [ErrNoProvider], [ErrFallbackDisabled], [ErrStoreUnavailable],
// [ErrBaseURLRejected], [ErrInvalidUserID], [ErrInvalidModel], [ErrInvalidConfig], or
// the context's error. Their texts never contain a key, a store's error text or a URL.
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
