package resolve

// WithClock replaces the cache's clock, so tests can expire entries without sleeping.
var WithClock = withClock
