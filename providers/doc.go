// Package providers names the LLM credential providers byok routes between and holds
// the rules that do not need a store: provider IDs and their defaults, the [Secret] type
// that keeps key material out of logs, and the gateway base-URL policy ([CheckGatewayURL]).
//
// It is a leaf package: it imports nothing else from this module and does no I/O.
package providers
