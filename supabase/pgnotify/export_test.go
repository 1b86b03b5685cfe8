package pgnotify

import "context"

// WithConnectHook runs f before each connection attempt, so a test can hold the
// Listener disconnected (f blocks) and watch what happens meanwhile.
func WithConnectHook(f func(ctx context.Context)) Option {
	return option(func(l *Listener, _ *meterProvider) { l.beforeConnect = f })
}
