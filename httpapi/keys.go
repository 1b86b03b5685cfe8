package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// KeyStore stores users' keys and gateway base URLs. vault.Store and resolvetest.Keys
// implement it.
type KeyStore interface {
	PutKey(ctx context.Context, userID string, id providers.ID, key providers.Secret) error
	DeleteKey(ctx context.Context, userID string, id providers.ID) error
	// PutGatewayKey stores the gateway key and base URL in one transaction: both, or on
	// any error neither. The URL passes the URL policy first (a rejection matches
	// providers.ErrGatewayURL); "" means the default and deletes a stored one.
	PutGatewayKey(ctx context.Context, userID string, key providers.Secret, baseURL string) error
	// DeleteGatewayKey deletes the gateway key and base URL in one transaction.
	DeleteGatewayKey(ctx context.Context, userID string) error
	// PutGatewayBaseURL stores the URL after the URL policy (a rejection matches
	// providers.ErrGatewayURL); "" deletes it.
	PutGatewayBaseURL(ctx context.Context, userID, baseURL string) error
	ListKeys(ctx context.Context, userID string) ([]resolve.KeyInfo, error)
}

// Validator checks a key with its provider; *providers.Validator implements it.
type Validator interface {
	Validate(ctx context.Context, id providers.ID, key providers.Secret) providers.Validation
}

// parseService reads a service name; an unknown one is answered 400 bad_request.
func parseService(w *recorder, s string) (providers.ID, bool) {
	id, err := providers.Parse(s)
	if err != nil {
		w.fail(http.StatusBadRequest, codeBadRequest, "Unsupported service")
		return "", false
	}
	return id, true
}

// parseKey checks an API key: surrounding white space trimmed, then the one key rule,
// providers.CheckKey (1 to 1024 printable ASCII characters, no white space). A bad key is
// answered 400 invalid_request.
func parseKey(w *recorder, s *string) (providers.Secret, bool) {
	if s == nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "apiKey is required")
		return providers.Secret{}, false
	}
	k := strings.TrimSpace(*s)
	if providers.CheckKey(k) != nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "apiKey must be 1 to 1024 printable ASCII characters without white space")
		return providers.Secret{}, false
	}
	return providers.NewSecret(k), true
}

// parseServiceAndKey checks the service and apiKey fields of a request body.
func parseServiceAndKey(w *recorder, service, apiKey *string) (providers.ID, providers.Secret, bool) {
	if service == nil {
		w.fail(http.StatusBadRequest, codeInvalidRequest, "service is required")
		return "", providers.Secret{}, false
	}
	id, ok := parseService(w, *service)
	if !ok {
		return "", providers.Secret{}, false
	}
	key, ok := parseKey(w, apiKey)
	return id, key, ok
}

// keyInfo is one element of GET /api/keys. Status is "broken" when a provider's answer
// marked the key (see resolve.KeyHealth): Reason is then the providers.Failure and FailedAt
// when it was marked; both are null for an "ok" key.
type keyInfo struct {
	Service   providers.ID       `json:"service"`
	CreatedAt time.Time          `json:"createdAt"`
	LastUsed  *time.Time         `json:"lastUsed"`
	Status    string             `json:"status"`
	Reason    *providers.Failure `json:"reason"`
	FailedAt  *time.Time         `json:"failedAt"`
}

// Key statuses of GET /api/keys.
const (
	keyOK     = "ok"
	keyBroken = "broken"
)

func (h *handler) listKeys(w *recorder, r *http.Request, user string) {
	if h.cfg.Keys == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Key store is not configured")
		return
	}
	infos, err := h.cfg.Keys.ListKeys(r.Context(), user)
	if err != nil {
		w.fail(http.StatusInternalServerError, codeVaultUnavailable, "Key store unavailable")
		return
	}
	out := make([]keyInfo, 0, len(infos))
	for _, k := range infos {
		info := keyInfo{Service: k.Service, CreatedAt: k.CreatedAt.UTC(), LastUsed: k.LastUsed, Status: keyOK}
		if k.Failure != "" {
			f := k.Failure
			if !f.Breaks() { // a store's own word is never echoed: the fixed words only
				w.fail(http.StatusInternalServerError, codeVaultUnavailable, "Key store unavailable")
				return
			}
			info.Status, info.Reason = keyBroken, &f
			if k.FailedAt != nil {
				at := k.FailedAt.UTC()
				info.FailedAt = &at
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b keyInfo) int { return strings.Compare(string(a.Service), string(b.Service)) })
	w.json(http.StatusOK, out)
}

func (h *handler) putKey(w *recorder, r *http.Request, user string) {
	if h.cfg.Keys == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Key store is not configured")
		return
	}
	var req struct {
		Service *string `json:"service"`
		APIKey  *string `json:"apiKey"`
		BaseURL *string `json:"baseUrl"`
	}
	if !decode(w, r, &req) {
		return
	}
	id, key, ok := parseServiceAndKey(w, req.Service, req.APIKey)
	if !ok {
		return
	}
	if req.BaseURL != nil && id != providers.Gateway {
		w.fail(http.StatusBadRequest, codeBadRequest, "baseUrl is only accepted for the gateway service")
		return
	}
	// A gateway key with a baseUrl field is one write of both, so the key and the host
	// it is sent to never disagree; "" stores the default URL. Without the field the
	// stored URL stays as it is.
	var err error
	if req.BaseURL != nil {
		err = h.cfg.Keys.PutGatewayKey(r.Context(), user, key, *req.BaseURL)
	} else {
		err = h.cfg.Keys.PutKey(r.Context(), user, id, key)
	}
	// Also after an error: a write whose answer was lost may have committed.
	h.invalidate(user)
	switch {
	case errors.Is(err, providers.ErrGatewayURL):
		w.fail(http.StatusBadRequest, codeBadRequest, "Gateway base URL is not allowed")
	case errors.Is(err, providers.ErrInvalidKey):
		w.fail(http.StatusBadRequest, codeInvalidRequest, "apiKey must be 1 to 1024 printable ASCII characters without white space")
	case err != nil:
		w.fail(http.StatusInternalServerError, codeVaultUnavailable, "Key store unavailable")
	default:
		w.noContent()
	}
}

func (h *handler) deleteKey(w *recorder, r *http.Request, user string) {
	if h.cfg.Keys == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Key store is not configured")
		return
	}
	id, ok := parseService(w, r.PathValue("service"))
	if !ok {
		return
	}
	// The gateway key goes with its base URL, in one write.
	var err error
	if id == providers.Gateway {
		err = h.cfg.Keys.DeleteGatewayKey(r.Context(), user)
	} else {
		err = h.cfg.Keys.DeleteKey(r.Context(), user, id)
	}
	h.invalidate(user) // also after an error: a write whose answer was lost may have committed
	if err != nil {
		w.fail(http.StatusInternalServerError, codeVaultUnavailable, "Key store unavailable")
		return
	}
	w.noContent()
}

func (h *handler) validateKey(w *recorder, r *http.Request, _ string) {
	var req struct {
		Service *string `json:"service"`
		APIKey  *string `json:"apiKey"`
	}
	if !decode(w, r, &req) {
		return
	}
	id, key, ok := parseServiceAndKey(w, req.Service, req.APIKey)
	if !ok {
		return
	}
	v := h.cfg.Validator.Validate(r.Context(), id, key)
	if v.Valid {
		w.json(http.StatusOK, map[string]bool{"isValid": true})
		return
	}
	reason := v.Reason
	if reason == "" {
		reason = "INVALID_KEY"
	}
	w.json(http.StatusOK, map[string]any{"isValid": false, "reason": reason})
}
