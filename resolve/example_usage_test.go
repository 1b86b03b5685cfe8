package resolve_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/byok-go/byok/providers"
	"github.com/byok-go/byok/resolve"
	"github.com/byok-go/byok/resolve/resolvetest"
)

func ExampleWithTeamUsage() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer upstream.Close()

	sink := resolvetest.NewUsage() // package usage has the Supabase one
	r := resolve.New(resolvetest.NewKeys(), resolvetest.NewConsent(true),
		resolve.Team{GatewayKey: providers.NewSecret("vck-team-example")},
		resolve.WithTeamUsage(sink, time.Minute))

	p, _, err := r.Resolve(context.Background(), "user-1")
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: p.Transport(resolvetest.NewUpstream(upstream))}
	for range 3 {
		resp, err := client.Get(p.BaseURL + "/models")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
	}

	// Close flushes what is counted; a service calls it when it shuts down.
	if err := r.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	for _, u := range sink.All() {
		fmt.Println(u.UserID, u.Path, u.Provider, u.Requests)
	}
	// Output: user-1 team-gateway gateway 3
}

func ExampleGatewayPseudonym() {
	secret := []byte("a stable secret of 32 bytes or more, from the environment")
	p, _ := resolve.GatewayPseudonym(secret, "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11")
	fmt.Println(len(p), p == "8d0f6b8e-2f6e-4a57-9d1c-2b7f0a3c9e11")
	// Output: 43 false
}
