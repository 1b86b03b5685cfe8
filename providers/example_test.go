package providers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/byok-go/byok/providers"
)

func ExampleCheckGatewayURL() {
	u, err := providers.CheckGatewayURL("https://AI-Gateway.vercel.sh:443/v1/")
	fmt.Println(u, err)

	_, err = providers.CheckGatewayURL("https://169.254.169.254/latest")
	var ue *providers.URLError
	if errors.As(err, &ue) {
		fmt.Println(ue.Reason, errors.Is(err, providers.ErrGatewayURL))
	}

	u, err = providers.CheckGatewayURL("https://gateway.internal.example.com/v1", "gateway.internal.example.com")
	fmt.Println(u, err)
	// Output:
	// https://ai-gateway.vercel.sh/v1 <nil>
	// private_host true
	// https://gateway.internal.example.com/v1 <nil>
}

func ExampleSecret() {
	key := providers.NewSecret(" sk-example ")
	fmt.Printf("%v %q %#v\n", key, key, key)
	fmt.Println(len(key.Reveal()))
	// Output:
	// [REDACTED] [REDACTED] [REDACTED]
	// 10
}

func ExampleValidator_Validate() {
	// A stand-in for OpenAI's GET /v1/models that knows one key.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer sk-good" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()

	v := &providers.Validator{BaseURLs: map[providers.ID]string{providers.OpenAI: srv.URL + "/v1"}}
	for _, key := range []string{"sk-good", "sk-revoked", ""} {
		fmt.Printf("%+v\n", v.Validate(context.Background(), providers.OpenAI, providers.NewSecret(key)))
	}
	// Output:
	// {Valid:true Reason: Status:200}
	// {Valid:false Reason:INVALID_KEY Status:401}
	// {Valid:false Reason:INVALID_KEY Status:0}
}

func ExampleClassifyFailure() {
	// OpenAI answers 429 both for a rate limit and for an account out of credit; the
	// error code tells them apart.
	quota := []byte(`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`)
	rate := []byte(`{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
	for _, body := range [][]byte{quota, rate} {
		f := providers.ClassifyFailure(providers.OpenAI, http.StatusTooManyRequests, body)
		fmt.Println(f, f.Breaks())
	}

	// OpenRouter's 403 is a moderation flag on the input, not the key.
	flagged := []byte(`{"error":{"code":403,"message":"Your input was flagged","metadata":{"reasons":["violence"]}}}`)
	fmt.Printf("%q\n", providers.ClassifyFailure(providers.OpenRouter, http.StatusForbidden, flagged))
	// Output:
	// insufficient_credit true
	// rate_limited false
	// ""
}
