package providers

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Failure is what a provider's error answer says about the key that made the request.
// The empty Failure means the answer says nothing about the key: a server error, a bad
// request, a moderation or policy refusal, or an answer byok cannot read.
//
// A Failure is a fixed word, never text taken from the answer, so it can be stored,
// logged and shown to the key's owner: providers echo key prefixes in their error
// messages, and nothing of the message leaves [ClassifyFailure].
type Failure string

// The failures [ClassifyFailure] reports.
const (
	// The provider does not know the key: wrong, revoked or disabled.
	FailureInvalidKey Failure = "invalid_key"
	// The key's account cannot pay: no credit left, or a spending limit reached.
	FailureNoCredit Failure = "insufficient_credit"
	// The provider knows the key but refuses it the operation: a restricted key
	// without the scope, a blocked team.
	FailurePermission Failure = "permission_denied"
	// The key may not use the requested model. It is about one model, not the key.
	FailureModelNotAllowed Failure = "model_not_allowed"
	// The provider is limiting the key's request rate. It is transient.
	FailureRateLimited Failure = "rate_limited"
)

// Breaks reports whether f means the key cannot serve any request until its owner acts:
// true for [FailureInvalidKey], [FailureNoCredit] and [FailurePermission]; false for
// [FailureModelNotAllowed], [FailureRateLimited], "" and any other value.
func (f Failure) Breaks() bool {
	switch f {
	case FailureInvalidKey, FailureNoCredit, FailurePermission:
		return true
	}
	return false
}

// maxFailureBody is how much of an error body ClassifyFailure reads. Provider error
// bodies are well under 1 KiB; a longer body is cut here, and a JSON answer cut short
// counts as unreadable.
const maxFailureBody = 64 << 10

// ClassifyFailure reads a provider's error answer, its HTTP status and body, and says
// what it means for the key that made the request. It reads the provider's error body
// as that provider writes it, and decides by the error's code, type or message first,
// by the status only where the provider gives that status a single meaning:
//
//	openai      {"error":{"message","type","param","code"}}
//	            401 invalid_api_key: invalid key; insufficient_quota (type or code) and
//	            its billing codes (credit_balance_exhausted, *_spend_limit_exceeded, ...):
//	            no credit; a message saying the key lacks permissions or scopes: no
//	            permission; model_not_found, or a message refusing a model: model not
//	            allowed; 429: rate limited. Any other 401 is an invalid key. Any other 403
//	            (the server's region, organization verification, an organization or
//	            project header that does not match the key) says nothing about the key.
//	anthropic   {"type":"error","error":{"type","message"}}
//	            authentication_error: invalid key; billing_error (402), and an
//	            invalid_request_error whose message says the credit balance is too low or
//	            the usage limits are reached: no credit; permission_error: no permission;
//	            not_found_error naming a model: model not allowed; rate_limit_error: rate
//	            limited. Without a readable type, 401 is an invalid key, 402 no credit and
//	            429 rate limited.
//	xai         {"code":"<status text>","error":"<message>"}
//	            "Incorrect API key" (a 400), or 401: invalid key; a message saying the
//	            credits are used up or the spending limit is reached, whatever the status:
//	            no credit; any other 403 from xAI: no permission; a 404 naming a model:
//	            model not allowed; other 429s: rate limited.
//	openrouter  {"error":{"code","message","metadata"}}
//	            401: invalid key; 402: no credit, except the in-flight budget
//	            (metadata.limit_source openrouter_in_flight_budget), which is rate
//	            limited, and "requires more credits, or fewer max_tokens", which is about
//	            one request's size; 403 (moderation, guardrails) says nothing about the
//	            key; 429: rate limited. An error relayed from an upstream provider
//	            (metadata names provider_name or provider_code) is that provider's, not
//	            the OpenRouter key's, and is at most rate limited.
//	gateway     {"error":{"message","type","param","code"}}
//	            authentication_error: invalid key; customer_verification_required (no
//	            payment method on the account): no credit; model_not_found: model not
//	            allowed; rate_limit_exceeded: rate limited; forbidden is a policy (a
//	            routing rule), not the key. 402 is not documented by the AI Gateway and
//	            is taken as no credit, whatever the body; 429 is rate limited. A 401 is
//	            an invalid key without a readable type; with a type the gateway does not
//	            use itself, it is an upstream provider's error relayed, not the key's.
//
// Only a 4xx status can say anything: any other status, an unknown provider, and an
// unknown 4xx give "". So do an empty, HTML or truncated body, except where the status
// alone decides as above. A key is marked broken only on clear evidence.
//
// ClassifyFailure reads at most the first 64 KiB of body and keeps no reference to it;
// it never panics, whatever the input. It is safe for concurrent use.
func ClassifyFailure(id ID, status int, body []byte) Failure {
	if status < 400 || status > 499 {
		return ""
	}
	if len(body) > maxFailureBody {
		body = body[:maxFailureBody]
	}
	a := readAnswer(body)
	switch id {
	case OpenAI:
		return classifyOpenAI(status, a)
	case Anthropic:
		return classifyAnthropic(status, a)
	case XAI:
		return classifyXAI(status, a)
	case OpenRouter:
		return classifyOpenRouter(status, a)
	case Gateway:
		return classifyGateway(status, a)
	}
	return ""
}

// answer is what ClassifyFailure reads from an error body: strings copied out of it and
// lower-cased, never the body itself.
type answer struct {
	read        bool   // the body is a JSON object
	typ         string // error.type
	code        string // error.code (a string or a number), or xAI's top-level code
	message     string // error.message, or xAI's top-level error string
	limitSource string // OpenRouter's error.metadata.limit_source
	upstream    bool   // OpenRouter's error.metadata names the provider that answered
}

// readAnswer decodes the parts of an error body the classifiers use. Anything but a
// well-formed JSON object gives the zero answer.
func readAnswer(body []byte) answer {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return answer{} // empty, HTML, plain text: skip the JSON decoder
	}
	var w wireBody
	if json.Unmarshal(trimmed, &w) != nil {
		return answer{}
	}
	a := answer{
		read:        true,
		typ:         lower(string(w.Error.Type)),
		code:        lower(string(w.Error.Code)),
		message:     lower(string(w.Error.Message)),
		limitSource: lower(string(w.Error.Metadata.LimitSource)),
		upstream:    w.Error.Metadata.ProviderName != "" || w.Error.Metadata.ProviderCode != "",
	}
	if a.message == "" {
		a.message = lower(w.Error.text) // xAI: "error" is the message itself
	}
	if a.code == "" {
		a.code = lower(string(w.Code)) // xAI: the code sits beside the message
	}
	return a
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// wireBody is the union of the providers' error envelopes.
type wireBody struct {
	Error wireError `json:"error"`
	Code  wireText  `json:"code"`
}

// wireError is the "error" member: an object (OpenAI, Anthropic, OpenRouter, gateway)
// or a string (xAI). Any other JSON value leaves it empty.
type wireError struct {
	Type     wireText     `json:"type"`
	Code     wireText     `json:"code"`
	Message  wireText     `json:"message"`
	Metadata wireMetadata `json:"metadata"`
	text     string       // when "error" is a string
}

type wireMetadata struct {
	LimitSource  wireText `json:"limit_source"`
	ProviderName wireText `json:"provider_name"`
	ProviderCode wireText `json:"provider_code"`
}

// UnmarshalJSON never fails, so an unexpected shape in one member does not hide the
// others. The outer Unmarshal has already checked that b is well-formed JSON.
func (e *wireError) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		_ = json.Unmarshal(b, &e.text)
	case len(b) > 0 && b[0] == '{':
		type plain wireError // without this method
		var p plain
		if json.Unmarshal(b, &p) == nil {
			*e = wireError(p)
		}
	}
	return nil
}

// wireText is a JSON string or number, as text; any other JSON value is "".
type wireText string

// UnmarshalJSON never fails; see wireError.UnmarshalJSON.
func (t *wireText) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if json.Unmarshal(b, &s) == nil {
			*t = wireText(s)
		}
	case len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9'):
		*t = wireText(b) // a copy: a string conversion never aliases b
	}
	return nil
}

// containsAny reports whether s contains any of subs.
func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// lacksPermission reports a message saying the key lacks a permission or scope, as
// OpenAI words it for restricted keys ("You have insufficient permissions for this
// operation. Missing scopes: model.request").
func lacksPermission(msg string) bool {
	return containsAny(msg, "insufficient permissions", "missing scopes")
}

// refusesModel reports a message refusing one model ("The model `x` does not exist or
// you do not have access to it", "You are not allowed to sample from this model",
// "The model grok-beta was deprecated ... no longer accessible").
func refusesModel(msg string) bool {
	return strings.Contains(msg, "model") && containsAny(msg,
		"does not exist", "not have access", "not allowed", "not found", "deprecated", "no longer")
}

// openAINoCredit holds OpenAI's codes for an account that cannot pay. Each comes with
// type insufficient_quota on a 429, except billing_hard_limit_reached (a 400 on images).
var openAINoCredit = map[string]bool{
	"insufficient_quota":                true,
	"credit_balance_exhausted":          true,
	"organization_spend_limit_exceeded": true,
	"project_spend_limit_exceeded":      true,
	"organization_usage_limit_exceeded": true,
	"billing_hard_limit_reached":        true,
	"billing_not_active":                true,
}

func classifyOpenAI(status int, a answer) Failure {
	switch {
	case openAINoCredit[a.code] || openAINoCredit[a.typ]:
		return FailureNoCredit
	case a.code == "invalid_api_key":
		return FailureInvalidKey
	case a.code == "model_not_found":
		return FailureModelNotAllowed
	case a.code == "unsupported_country_region_territory", // where the server runs
		a.code == "mismatched_organization", a.code == "mismatched_project", // the caller's headers
		strings.Contains(a.message, "must be verified"): // the organization, for one model or feature
		return ""
	case lacksPermission(a.message):
		return FailurePermission
	case refusesModel(a.message):
		return FailureModelNotAllowed
	}
	switch status {
	case 401:
		return FailureInvalidKey
	case 429:
		return FailureRateLimited
	}
	return ""
}

func classifyAnthropic(status int, a answer) Failure {
	switch a.typ {
	case "authentication_error":
		return FailureInvalidKey
	case "billing_error":
		return FailureNoCredit
	case "permission_error":
		return FailurePermission
	case "rate_limit_error":
		return FailureRateLimited
	case "not_found_error":
		if strings.Contains(a.message, "model") {
			return FailureModelNotAllowed
		}
		return "" // a wrong path: "Not Found"
	case "invalid_request_error":
		if strings.Contains(a.message, "credit balance is too low") ||
			strings.Contains(a.message, "reached your specified") && strings.Contains(a.message, "usage limits") {
			return FailureNoCredit
		}
		return ""
	case "":
	default:
		return "" // overloaded_error, api_error, an edge's "forbidden", ...
	}
	switch status {
	case 401:
		return FailureInvalidKey
	case 402:
		return FailureNoCredit
	case 429:
		return FailureRateLimited
	}
	return ""
}

// xAIUnauthenticated and xAIPermissionDenied are the code texts xAI puts beside the
// message (the gRPC status descriptions).
const (
	xAIUnauthenticated  = "the request does not have valid authentication credentials"
	xAIPermissionDenied = "the caller does not have permission"
)

func classifyXAI(status int, a answer) Failure {
	switch {
	case strings.Contains(a.message, "incorrect api key"), a.code == xAIUnauthenticated:
		return FailureInvalidKey
	case containsAny(a.message, "used all available credits", "spending limit",
		"doesn't have any credits", "does not have any credits", "run out of credits", "insufficient credits"):
		return FailureNoCredit
	case refusesModel(a.message):
		return FailureModelNotAllowed
	}
	switch status {
	case 401:
		return FailureInvalidKey
	case 403:
		// xAI documents 403 as the key or team lacking permission, or blocked. Only its
		// own answer counts: an HTML 403 from something in between says nothing.
		if strings.HasPrefix(a.code, xAIPermissionDenied) || a.read && a.message != "" {
			return FailurePermission
		}
	case 429:
		return FailureRateLimited
	}
	return ""
}

func classifyOpenRouter(status int, a answer) Failure {
	if a.upstream {
		if status == 429 {
			return FailureRateLimited
		}
		return ""
	}
	switch status {
	case 401:
		return FailureInvalidKey
	case 402:
		switch {
		case a.limitSource == "openrouter_in_flight_budget":
			return FailureRateLimited // running requests hold the budget; retry later
		case strings.Contains(a.message, "fewer max_tokens"):
			return "" // this request is too large for the credit left; smaller ones pass
		}
		return FailureNoCredit
	case 429:
		return FailureRateLimited
	}
	return "" // 403 is moderation or a guardrail: the input, not the key
}

func classifyGateway(status int, a answer) Failure {
	switch a.typ {
	case "authentication_error":
		return FailureInvalidKey
	case "customer_verification_required":
		return FailureNoCredit
	case "model_not_found":
		return FailureModelNotAllowed
	case "rate_limit_exceeded":
		return FailureRateLimited
	case "forbidden", "invalid_request_error", "not_found", "internal_server_error", "failed_dependency":
		return "" // the gateway's own answers about the request, not the key
	}
	switch status {
	case 401:
		if a.typ == "" { // with a type, an upstream provider's error relayed
			return FailureInvalidKey
		}
	case 402:
		return FailureNoCredit
	case 429:
		return FailureRateLimited
	}
	return ""
}
