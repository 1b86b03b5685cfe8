package resolvetest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/byok-go/byok/resolve/resolvetest"
)

func TestUpstream(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Kept")+" "+string(body))
	}))
	t.Cleanup(srv.Close)
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, "other "+r.Host)
	}))
	t.Cleanup(other.Close)

	up := resolvetest.NewUpstream(srv).Route("API.example.com", other)
	client := &http.Client{Transport: up}
	req, err := http.NewRequest(http.MethodPost, "https://api.openai.com/v1/chat/completions?x=1", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("X-Kept", "yes")
	resp, err := client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, "api.openai.com", req.URL.Host, "the caller's request is not changed")

	resp, err = client.Get("https://api.example.com/v1/models")
	require.NoError(t, err, "a TLS test server is reached with its own client's trust")
	_ = resp.Body.Close()
	assert.Equal(t, []string{"POST api.openai.com /v1/chat/completions?x=1 yes {}", "other api.example.com"}, got)

	_, err = (&http.Client{Transport: resolvetest.NewUpstream(nil)}).Get("https://api.openai.com/v1/models")
	require.ErrorIs(t, err, resolvetest.ErrNoRoute)
}
