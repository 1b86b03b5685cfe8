package resolve

// WithAfterFunc replaces the cache's expiry timers, so tests can expire entries
// without sleeping.
var WithAfterFunc = withAfterFunc
