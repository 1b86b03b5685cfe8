// Package providers names the LLM credential providers byok routes between and holds
// the rules that do not need a store: provider IDs and their defaults, the [Secret] type
// that keeps key material out of logs, and the gateway base-URL policy ([CheckGatewayURL]).
// A [Validator] checks a key against its provider's API with one authenticated GET.
// [CheckDialAddr] says which resolved addresses a connection carrying a key may go to;
// its refusals, and those of resolve's guarded Transport, match [ErrEgressDenied].
//
// [ClassifyFailure] reads a provider's error answer (its 4xx status and at most the
// first 64 KiB of its body, parsed as that provider writes errors) and says what it
// means for the key that sent the request: a [Failure] such as [FailureInvalidKey] or
// [FailureNoCredit], or "" when the answer says nothing about the key. A Failure is a
// fixed word, never text from the body, which may echo part of the key.
//
// It is a leaf package: it imports nothing else from this module, and the Validator is
// its only code that does I/O.
package providers
