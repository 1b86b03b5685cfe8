package providers_test

import (
	"errors"
	"fmt"

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
