package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// HealthChecker reports whether the key store works; vault.Store implements it.
type HealthChecker interface {
	Health(ctx context.Context) error
}

func (h *handler) health(w *recorder, r *http.Request) {
	if h.cfg.HealthKey == "" || h.cfg.Health == nil {
		w.fail(http.StatusServiceUnavailable, codeHealthNotConfigured, "Health check is not configured")
		return
	}
	given := r.Header.Get("X-Internal-Key")
	if given == "" {
		if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			given = strings.TrimSpace(token)
		}
	}
	if given == "" {
		w.fail(http.StatusUnauthorized, codeUnauthorized, "Operator key required")
		return
	}
	// Hashing first makes the comparison constant-time in the key's length too.
	sum := sha256.Sum256([]byte(given))
	if subtle.ConstantTimeCompare(sum[:], h.healthH[:]) != 1 {
		w.fail(http.StatusForbidden, codeForbidden, "Wrong operator key")
		return
	}
	if err := h.cfg.Health.Health(r.Context()); err != nil {
		w.fail(http.StatusServiceUnavailable, codeVaultUnavailable, "Vault health check failed")
		return
	}
	w.json(http.StatusOK, map[string]any{"status": "ok", "checks": map[string]string{"vault": "ok"}})
}
