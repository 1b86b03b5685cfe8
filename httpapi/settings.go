package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/byok-go/byok/resolve"
)

// ConsentStore reads and sets users' consent to team fallback. consent.Store and
// resolvetest.Consent implement it.
type ConsentStore interface {
	AllowGatewayFallback(ctx context.Context, userID string) (bool, error)
	SetAllowGatewayFallback(ctx context.Context, userID string, allow bool) error
}

func (h *handler) getSettings(w *recorder, r *http.Request, user string) {
	if h.cfg.Consent == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Settings store is not configured")
		return
	}
	allow, err := h.cfg.Consent.AllowGatewayFallback(r.Context(), user)
	if errors.Is(err, resolve.ErrNotFound) {
		allow, err = true, nil // the database default
	}
	if err != nil {
		w.fail(http.StatusInternalServerError, codeSettingsUnavailable, "Settings store unavailable")
		return
	}
	w.json(http.StatusOK, map[string]bool{"allowGatewayFallback": allow})
}

func (h *handler) setSettings(w *recorder, r *http.Request, user string) {
	if h.cfg.Consent == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Settings store is not configured")
		return
	}
	var req struct {
		Allow json.RawMessage `json:"allowGatewayFallback"`
	}
	if !decode(w, r, &req) {
		return
	}
	var allow bool
	switch string(req.Allow) {
	case "true":
		allow = true
	case "false":
	default:
		w.fail(http.StatusBadRequest, codeInvalidRequest, "allowGatewayFallback must be true or false")
		return
	}
	if err := h.cfg.Consent.SetAllowGatewayFallback(r.Context(), user, allow); err != nil {
		w.fail(http.StatusInternalServerError, codeSettingsUnavailable, "Settings store unavailable")
		return
	}
	h.invalidate(user)
	w.json(http.StatusOK, map[string]bool{"ok": true})
}
