package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
)

// Resolver resolves and forgets users' credentials; *resolve.Resolver implements it.
type Resolver interface {
	Resolve(ctx context.Context, userID string, opts ...resolve.CallOption) (resolve.Provider, resolve.Path, error)
	Invalidate(userID string)
}

// resolved is the answer of GET /api/providers/resolve.
type resolved struct {
	Path          resolve.Path `json:"path"`
	Provider      providers.ID `json:"provider"`
	BaseURLHost   string       `json:"baseUrlHost"`
	BaseURLSource string       `json:"baseUrlSource"`
	Model         *string      `json:"model"`
}

func (h *handler) resolve(w *recorder, r *http.Request, user string) {
	if h.cfg.Resolver == nil {
		w.fail(http.StatusInternalServerError, codeMisconfigured, "Resolver is not configured")
		return
	}
	var opts []resolve.CallOption
	if q := r.URL.Query(); q.Has("model") {
		opts = append(opts, resolve.WithModel(q.Get("model")))
	}
	p, path, err := h.cfg.Resolver.Resolve(r.Context(), user, opts...)
	if err != nil {
		var re *resolve.Error
		code := "error"
		if errors.As(err, &re) {
			code = re.Code()
		}
		if code == "invalid_model" {
			w.fail(http.StatusBadRequest, codeInvalidRequest, "Malformed model hint")
			return
		}
		if code == codeKeyBroken && re.Provider.Valid() && providers.Failure(re.Reason).Breaks() {
			// 409: the user's stored key is in a state that refuses the request, and the
			// user resolves it by storing a working key (PUT /api/keys); retrying as is
			// cannot succeed. Not 503 (clients and proxies retry it: nothing is down), not
			// 401 or 403 (about this API's own session: a front end would sign the user
			// out), not 402 (only one of the failures is about payment).
			w.code = codeKeyBroken
			w.json(http.StatusConflict, map[string]string{"error": codeKeyBroken, "service": string(re.Provider), "reason": re.Reason})
			return
		}
		w.code = codeProviderUnavailable + ":" + code
		w.json(http.StatusServiceUnavailable, map[string]string{"error": codeProviderUnavailable, "reason": code})
		return
	}
	out := resolved{Path: path, Provider: p.ID, BaseURLHost: p.BaseURLHost(), BaseURLSource: p.BaseURLSource}
	if p.Model != "" {
		out.Model = &p.Model
	}
	w.json(http.StatusOK, out)
}
