package providers_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/byok-go/byok/providers"
)

// failureCase is one provider answer and what it says about the key.
type failureCase struct {
	name   string
	id     providers.ID
	status int
	body   string
	want   providers.Failure
}

// failureCases are the providers' error answers, each with where it comes from. "docs"
// bodies are the provider's documented shape and wording; "observed" bodies are answers
// the provider sent, as quoted in public issues and code; "shape" bodies put a
// documented code or status into the provider's documented envelope. Key fragments and
// team ids in the messages are as quoted, or replaced by fakes.
var failureCases = []failureCase{
	// ---- OpenAI: {"error":{"message","type","param","code"}}
	// https://platform.openai.com/docs/guides/error-codes and
	// https://help.openai.com/en/articles/6891781 ("401 - Incorrect API key provided").
	{
		// Observed: continuedev/continue#10016.
		"openai 401 invalid_api_key", providers.OpenAI, 401,
		`{"error":{"message":"Incorrect API key provided: AIzaSyDQ***************************xvs8. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
		providers.FailureInvalidKey,
	},
	{
		// Observed: mattvr/ShellGPT#23.
		"openai 429 insufficient_quota type and code", providers.OpenAI, 429,
		`{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: huggingface.co/spaces/microsoft/HuggingGPT/discussions/5 (code null).
		"openai 429 insufficient_quota type only", providers.OpenAI, 429,
		`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":null}}`,
		providers.FailureNoCredit,
	},
	{
		// Docs: OpenAI's billing codes under type insufficient_quota, as listed by
		// learn.microsoft.com/microsoft-cloud/dev/dev-proxy/concepts/openai-insufficient-quota.
		"openai 429 project_spend_limit_exceeded", providers.OpenAI, 429,
		`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"project_spend_limit_exceeded"}}`,
		providers.FailureNoCredit,
	},
	{
		"openai 429 credit_balance_exhausted", providers.OpenAI, 429,
		`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"credit_balance_exhausted"}}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: the 429 billing_not_active answer quoted in public client tests.
		"openai 429 billing_not_active", providers.OpenAI, 429,
		`{"error":{"message":"Your account is not active, please check your billing details on our website.","type":"billing_not_active","code":"billing_not_active"}}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: an image generation answer, quoted in a public test log.
		"openai 400 billing_hard_limit_reached", providers.OpenAI, 400,
		`{"error":{"message":"Billing hard limit has been reached","type":"image_generation_user_error","param":null,"code":"billing_hard_limit_reached"}}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: a restricted key without the scope (quoted in public code comments).
		"openai 403 restricted key missing scope", providers.OpenAI, 403,
		`{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: model.request. Check that you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if you're using a restricted API key, that it has the necessary scopes.","type":"invalid_request_error","param":null,"code":null}}`,
		providers.FailurePermission,
	},
	{
		// Observed: the same refusal, sent as a 401.
		"openai 401 restricted key missing scope", providers.OpenAI, 401,
		`{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.responses.write.","type":"invalid_request_error","param":null,"code":null}}`,
		providers.FailurePermission,
	},
	{
		// Docs: 404 model_not_found, "The model ... does not exist or you do not have access to it."
		"openai 404 model_not_found", providers.OpenAI, 404,
		"{\"error\":{\"message\":\"The model `gpt-9` does not exist or you do not have access to it.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}",
		providers.FailureModelNotAllowed,
	},
	{
		// Observed: a project whose model allowlist leaves the model out.
		"openai 403 project lacks the model", providers.OpenAI, 403,
		"{\"error\":{\"message\":\"Project `proj_abc123` does not have access to model `gpt-4o`\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"model_not_found\"}}",
		providers.FailureModelNotAllowed,
	},
	{
		// Observed: quoted in public client tests.
		"openai 403 not allowed to sample from this model", providers.OpenAI, 403,
		`{"error":{"message":"You are not allowed to sample from this model","type":"invalid_request_error","param":null,"code":null}}`,
		providers.FailureModelNotAllowed,
	},
	{
		// Docs: "429 - Rate limit reached for requests"; body as the API sends it.
		"openai 429 rate_limit_exceeded", providers.OpenAI, 429,
		`{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc123 on tokens per min (TPM): Limit 30000, Used 29823, Requested 1200. Please try again in 2.046s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
		providers.FailureRateLimited,
	},
	{
		// Docs: "403 - Country, region, or territory not supported": where the server
		// runs, not the key.
		"openai 403 unsupported region", providers.OpenAI, 403,
		`{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","param":null,"type":"request_forbidden"}}`,
		"",
	},
	{
		// Observed: organization verification for one model.
		"openai 403 organization must be verified", providers.OpenAI, 403,
		"{\"error\":{\"message\":\"Your organization must be verified to use the model `gpt-image-1`. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}",
		"",
	},
	{
		// Shape: an OpenAI-Project header that names another project than the key's.
		"openai 401 mismatched_project", providers.OpenAI, 401,
		`{"error":{"message":"OpenAI-Project header should match project for API key","type":"invalid_request_error","param":null,"code":"mismatched_project"}}`,
		"",
	},
	{
		"openai 404 invalid URL", providers.OpenAI, 404,
		`{"error":{"message":"Invalid URL (POST /v1/chat/completion)","type":"invalid_request_error","param":null,"code":null}}`,
		"",
	},
	{
		"openai 400 context length", providers.OpenAI, 400,
		`{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130321 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
		"",
	},
	{
		// Docs: "500 - The server had an error while processing your request."
		"openai 500", providers.OpenAI, 500,
		`{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
		"",
	},
	{
		"openai 503 never marks, whatever the body says", providers.OpenAI, 503,
		`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`,
		"",
	},
	{
		"openai 403 HTML from an edge", providers.OpenAI, 403,
		`<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head><body>Sorry, you have been blocked</body></html>`,
		"",
	},
	{"openai 401 empty body: the status decides", providers.OpenAI, 401, "", providers.FailureInvalidKey},
	{
		"openai 429 truncated: rate limited, never a mark", providers.OpenAI, 429,
		`{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quo`,
		providers.FailureRateLimited,
	},
	{"openai 403 empty body", providers.OpenAI, 403, "", ""},

	// ---- Anthropic: {"type":"error","error":{"type","message"},"request_id"}
	// https://docs.anthropic.com/en/api/errors (HTTP errors: 400 invalid_request_error,
	// 401 authentication_error, 402 billing_error, 403 permission_error, 404
	// not_found_error, 413 request_too_large, 429 rate_limit_error, 500 api_error,
	// 529 overloaded_error).
	{
		// Observed: quoted in public client tests.
		"anthropic 401 authentication_error", providers.Anthropic, 401,
		`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`,
		providers.FailureInvalidKey,
	},
	{
		// Docs: "402 - billing_error: There's an issue with your billing or payment information."
		"anthropic 402 billing_error", providers.Anthropic, 402,
		`{"type":"error","error":{"type":"billing_error","message":"There's an issue with your billing or payment information."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fz"}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: a 400 on an empty account (quoted in a public log).
		"anthropic 400 credit balance too low", providers.Anthropic, 400,
		`{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_011CZuM63Dv3wRyxXFsStbAt"}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: a spend limit the organization set (quoted in public client tests).
		"anthropic 400 usage limits reached", providers.Anthropic, 400,
		`{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-08-01 at 00:00 UTC."},"request_id":"req_011CdGynYhzSgVkKGN7UcJf9"}`,
		providers.FailureNoCredit,
	},
	{
		// Docs: "403 - permission_error: Your API key does not have permission to use the
		// specified resource."
		"anthropic 403 permission_error", providers.Anthropic, 403,
		`{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`,
		providers.FailurePermission,
	},
	{
		// Observed: an unknown model (quoted in public logs).
		"anthropic 404 not_found_error model", providers.Anthropic, 404,
		`{"type":"error","error":{"type":"not_found_error","message":"model: claude-3-opus-20240229"}}`,
		providers.FailureModelNotAllowed,
	},
	{
		// Docs: 429 rate_limit_error.
		"anthropic 429 rate_limit_error", providers.Anthropic, 429,
		`{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute."}}`,
		providers.FailureRateLimited,
	},
	{
		// Observed: the edge's answer to an unsupported region, in its own shape.
		"anthropic 403 region block", providers.Anthropic, 403,
		`{"error":{"type":"forbidden","message":"Request not allowed"}}`,
		"",
	},
	{
		// Docs: not_found_error for a path that does not exist.
		"anthropic 404 wrong path", providers.Anthropic, 404,
		`{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`,
		"",
	},
	{
		"anthropic 400 bad request", providers.Anthropic, 400,
		`{"type":"error","error":{"type":"invalid_request_error","message":"messages: at least one message is required"}}`,
		"",
	},
	{
		"anthropic 413 request_too_large", providers.Anthropic, 413,
		`{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`,
		"",
	},
	{
		// Docs: 529 overloaded_error.
		"anthropic 529 overloaded", providers.Anthropic, 529,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		"",
	},
	{
		"anthropic 500 api_error", providers.Anthropic, 500,
		`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`,
		"",
	},
	{"anthropic 402 empty body: the status decides", providers.Anthropic, 402, "", providers.FailureNoCredit},
	{"anthropic 403 empty body", providers.Anthropic, 403, "", ""},
	{
		"anthropic 403 truncated", providers.Anthropic, 403,
		`{"type":"error","error":{"type":"permission_error","mess`,
		"",
	},

	// ---- xAI: {"code":"<status text>","error":"<message>"}
	// https://docs.x.ai/docs/key-information/debugging: 400 "An incorrect API key is
	// supplied", 401 invalid authorization token, 403 "Your API key/team doesn't have
	// permission ... is blocked", 404 model not found, 429 rate limit.
	{
		// Observed: continuedev/continue#10778 and public logs.
		"xai 400 incorrect API key", providers.XAI, 400,
		`{"code":"Client specified an invalid argument","error":"Incorrect API key provided: xa***MN. You can obtain an API key from https://console.x.ai."}`,
		providers.FailureInvalidKey,
	},
	{
		// Shape: the 401 of the docs, with xAI's UNAUTHENTICATED status text.
		"xai 401", providers.XAI, 401,
		`{"code":"The request does not have valid authentication credentials","error":"No credentials presented."}`,
		providers.FailureInvalidKey,
	},
	{
		// Observed: continuedev/continue#10373.
		"xai 429 credits used up", providers.XAI, 429,
		`{"code":"Some resource has been exhausted","error":"Your team 16f2151a-40f4-4a80-8ad0-cae00c27e8dd has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit."}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: warpdotdev/warp#14863.
		"xai 403 credits used up", providers.XAI, 403,
		`{"code":"The caller does not have permission to execute the specified operation","error":"Your team 8c268de0-42ec-4474-b4b6-4c92c1f97827 has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit."}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: a new team without credits (quoted in a public log).
		"xai 403 new team without credits", providers.XAI, 403,
		`{"code":"The caller does not have permission to execute the specified operation","error":"Your newly created team doesn't have any credits or licenses yet. You can purchase those on https://console.x.ai/team/f6648191-e37f-4d0f-9d50-569b11cb33f8."}`,
		providers.FailureNoCredit,
	},
	{
		// Shape: the docs' 403 "Your API key/team is blocked".
		"xai 403 team blocked", providers.XAI, 403,
		`{"code":"The caller does not have permission to execute the specified operation","error":"Your team is blocked."}`,
		providers.FailurePermission,
	},
	{
		// Observed: a retired model (quoted in public logs).
		"xai 404 model", providers.XAI, 404,
		`{"code":"Some requested entity was not found","error":"The model grok-beta was deprecated on 2025-09-15 and is no longer accessible via the API. Please use grok-3 instead."}`,
		providers.FailureModelNotAllowed,
	},
	{
		// Observed: capacity, quoted in public tests: transient like a rate limit.
		"xai 429 at capacity", providers.XAI, 429,
		`{"code":"Some resource has been exhausted","error":"The service is temporarily at capacity. Please retry your request shortly."}`,
		providers.FailureRateLimited,
	},
	{
		"xai 400 other invalid argument", providers.XAI, 400,
		`{"code":"Client specified an invalid argument","error":"Incorrect padding for encrypted content"}`,
		"",
	},
	{"xai 404 without a body (a wrong URL)", providers.XAI, 404, "", ""},
	{"xai 403 HTML", providers.XAI, 403, `<html><body><h1>403 Forbidden</h1></body></html>`, ""},
	{
		"xai 500", providers.XAI, 500,
		`{"code":"Internal error","error":"Service temporarily unavailable. The model is overloaded."}`,
		"",
	},

	// ---- OpenRouter: {"error":{"code","message","metadata"}}
	// https://openrouter.ai/docs/api/reference/errors-and-debugging: 401 invalid
	// credentials, 402 insufficient credits, 403 moderation or guardrail, 429 rate
	// limited; an upstream provider's code is in error.metadata.provider_code.
	{
		// Observed: the answer to a key OpenRouter does not know (many public logs).
		"openrouter 401", providers.OpenRouter, 401,
		`{"error":{"message":"User not found.","code":401}}`,
		providers.FailureInvalidKey,
	},
	{
		// Observed: open-assistant-org/open-assistant#80.
		"openrouter 402 insufficient credits", providers.OpenRouter, 402,
		`{"error":{"message":"Insufficient credits. Add more using https://openrouter.ai/settings/credits","code":402,"metadata":{"limit_source":"openrouter_credits","remedy_hint":"Add credits at https://openrouter.ai/settings/credits, or lower max_tokens / prompt size to fit your remaining balance."}}}`,
		providers.FailureNoCredit,
	},
	{
		// Observed: Gitlawb/openclaude#43.
		"openrouter 402 never purchased credits", providers.OpenRouter, 402,
		`{"error":{"message":"Insufficient credits. This account never purchased credits. Make sure your key is on the correct account or org, and if so, purchase more at https://openrouter.ai/settings/credits","code":402}}`,
		providers.FailureNoCredit,
	},
	{
		// Shape: the per-key credit limit (docs: limit_source openrouter_key_limit).
		"openrouter 402 key limit", providers.OpenRouter, 402,
		`{"error":{"message":"Key limit exceeded","code":402,"metadata":{"limit_source":"openrouter_key_limit"}}}`,
		providers.FailureNoCredit,
	},
	{
		// Shape: the in-flight spending budget, which the docs call transient (with
		// Retry-After).
		"openrouter 402 in-flight budget", providers.OpenRouter, 402,
		`{"error":{"message":"In-flight budget exhausted","code":402,"metadata":{"limit_source":"openrouter_in_flight_budget"}}}`,
		providers.FailureRateLimited,
	},
	{
		// Observed: continuedev/continue#11154: this request is too large, smaller pass.
		"openrouter 402 fewer max_tokens", providers.OpenRouter, 402,
		`{"error":{"message":"This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, but can only afford 222. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account","code":402}}`,
		"",
	},
	{
		// Docs: a rate-limited free model.
		"openrouter 429", providers.OpenRouter, 429,
		`{"error":{"message":"Rate limit exceeded: free-models-per-min. ","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"20","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1741305600000"}}}}`,
		providers.FailureRateLimited,
	},
	{
		// Docs: ModerationErrorMetadata {reasons, flagged_input, provider_name, model_slug}.
		"openrouter 403 moderation", providers.OpenRouter, 403,
		`{"error":{"code":403,"message":"openai/gpt-4o requires moderation on OpenAI. Your input was flagged for \"violence\". No credits were charged.","metadata":{"reasons":["violence"],"flagged_input":"...","provider_name":"OpenAI","model_slug":"openai/gpt-4o"}}}`,
		"",
	},
	{
		// Docs: the guardrail example.
		"openrouter 403 guardrail", providers.OpenRouter, 403,
		`{"error":{"code":403,"message":"Request blocked: prompt injection patterns detected","metadata":{"patterns":["ignore all previous instructions"]}}}`,
		"",
	},
	{
		// Docs: an upstream provider's error carries its code in metadata.provider_code:
		// the provider's credential, not the OpenRouter key.
		"openrouter 401 relayed from upstream", providers.OpenRouter, 401,
		`{"error":{"code":401,"message":"Incorrect API key provided","metadata":{"error_type":"authentication","provider_code":"invalid_api_key","provider_name":"OpenAI"}}}`,
		"",
	},
	{
		// Docs: an upstream rate limit (metadata.error_type rate_limit_exceeded).
		"openrouter 429 relayed from upstream", providers.OpenRouter, 429,
		`{"error":{"code":429,"message":"Rate limit exceeded","metadata":{"error_type":"rate_limit_exceeded","provider_code":"rate_limited"}}}`,
		providers.FailureRateLimited,
	},
	{
		// Observed: quoted in public client tests.
		"openrouter 400 unknown model", providers.OpenRouter, 400,
		`{"error":{"message":"zzz-nonsense/not-a-model-9000:free is not a valid model ID","code":400}}`,
		"",
	},
	{
		// Docs: privacy_restricted availability error.
		"openrouter 404 privacy restricted", providers.OpenRouter, 404,
		`{"error":{"message":"No endpoints for openai/gpt-5.2 match your data policy (zero data retention). Adjust at https://openrouter.ai/settings/privacy.","error_type":"not_found","http_status":404,"availability":{"code":"privacy_restricted","retryable":false,"requested_models":["openai/gpt-5.2"],"excluded_by":["data_policy:zdr"],"docs_url":"https://openrouter.ai/docs/errors#privacy_restricted"}}}`,
		"",
	},
	{
		"openrouter 502", providers.OpenRouter, 502,
		`{"error":{"message":"Provider returned error","code":502}}`,
		"",
	},

	// ---- Vercel AI Gateway: {"error":{"message","type","param","code"},"generationId"}
	// Types as @ai-sdk/gateway reads them (vercel/ai packages/gateway/src/errors/
	// create-gateway-error.ts): authentication_error, invalid_request_error,
	// rate_limit_exceeded, model_not_found, not_found, internal_server_error,
	// failed_dependency, forbidden ("rejected by policy ... not an authentication
	// failure"). Bodies from create-gateway-error.test.ts unless noted.
	{
		"gateway 401 authentication_error", providers.Gateway, 401,
		`{"error":{"message":"Invalid API key","type":"authentication_error"}}`,
		providers.FailureInvalidKey,
	},
	{
		// Observed: the answer of an account without a payment method (a public test
		// quoting a live answer).
		"gateway 403 customer_verification_required", providers.Gateway, 403,
		`{"error":{"message":"AI Gateway requires a valid credit card on file to service requests. Please visit https://vercel.com/d?to=%2F%5Bteam%5D%2F%7E%2Fai%3Fmodal%3Dadd-credit-card to add a card and unlock your free credits.","type":"customer_verification_required"}}`,
		providers.FailureNoCredit,
	},
	{
		// Not documented by the gateway: taken as no credit.
		"gateway 402", providers.Gateway, 402,
		`{"error":{"message":"Insufficient funds","type":"payment_required"}}`,
		providers.FailureNoCredit,
	},
	{"gateway 402 empty body", providers.Gateway, 402, "", providers.FailureNoCredit},
	{
		"gateway 404 model_not_found", providers.Gateway, 404,
		`{"error":{"message":"Model not available","type":"model_not_found","param":{"modelId":"gpt-ai-sdk-test"}}}`,
		providers.FailureModelNotAllowed,
	},
	{
		"gateway 429 rate_limit_exceeded", providers.Gateway, 429,
		`{"error":{"message":"Rate limit exceeded. Try again later.","type":"rate_limit_exceeded"}}`,
		providers.FailureRateLimited,
	},
	{
		"gateway 403 forbidden by a routing rule", providers.Gateway, 403,
		`{"error":{"message":"Request denied by a routing rule.","type":"forbidden","param":{"ruleId":"rule_abc123"}}}`,
		"",
	},
	{
		"gateway 400 invalid_request_error", providers.Gateway, 400,
		`{"error":{"message":"Invalid request: missing required parameter","type":"invalid_request_error"}}`,
		"",
	},
	{
		"gateway 404 not_found", providers.Gateway, 404,
		`{"error":{"message":"Async job not found.","type":"not_found"}}`,
		"",
	},
	{
		"gateway 500 internal_server_error", providers.Gateway, 500,
		`{"error":{"message":"Internal server error occurred","type":"internal_server_error"}}`,
		"",
	},
	{
		// Observed (shape): vercel/ai#9290, an upstream provider's error relayed by the
		// gateway, here answered with 401: the upstream credential, not the gateway key.
		"gateway 401 relayed from upstream", providers.Gateway, 401,
		`{"error":{"message":"Incorrect API key provided","type":"AI_APICallError","param":{"error":"Incorrect API key provided","statusCode":401,"name":"AI_APICallError","url":"https://api.openai.com/v1/chat/completions","isRetryable":false}}}`,
		"",
	},
	{"gateway 401 empty body: the status decides", providers.Gateway, 401, "", providers.FailureInvalidKey},
	{"gateway 403 empty body", providers.Gateway, 403, "", ""},

	// ---- Any provider
	{"unknown provider", "google", 401, `{"error":{"code":"invalid_api_key"}}`, ""},
	{"empty provider", "", 401, "", ""},
	{"status 200", providers.OpenAI, 200, `{"error":{"code":"invalid_api_key"}}`, ""},
	{"status 302", providers.Anthropic, 302, `{"type":"error","error":{"type":"authentication_error"}}`, ""},
	{"status 0", providers.OpenRouter, 0, "", ""},
	{"status -401", providers.OpenRouter, -401, "", ""},
	{"status 600", providers.Gateway, 600, "", ""},
	{"a JSON array", providers.OpenAI, 403, `[{"error":{"code":"invalid_api_key"}}]`, ""},
	{"a JSON string", providers.XAI, 403, `"Incorrect API key provided"`, ""},
	{"trailing garbage", providers.OpenAI, 403, `{"error":{"message":"Missing scopes: model.request"}} trailing`, ""},
	{"wrong member types", providers.Anthropic, 403, `{"type":7,"error":{"type":["permission_error"],"message":{}}}`, ""},
	{"numbers where strings go", providers.OpenAI, 403, `{"error":{"code":123,"type":4.5e9,"message":-1}}`, ""},
	{"null error", providers.Gateway, 403, `{"error":null}`, ""},
	{"leading white space", providers.Anthropic, 403, " \r\n\t" + `{"type":"error","error":{"type":"permission_error","message":"x"}}`, providers.FailurePermission},
	{"upper-case code", providers.OpenAI, 429, `{"error":{"type":"Insufficient_Quota","code":null}}`, providers.FailureNoCredit},
}

func TestClassifyFailure(t *testing.T) {
	for _, c := range failureCases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, providers.ClassifyFailure(c.id, c.status, []byte(c.body)))
		})
	}
}

func TestClassifyFailure_nilBody(t *testing.T) {
	assert.Equal(t, providers.FailureInvalidKey, providers.ClassifyFailure(providers.OpenAI, 401, nil))
	assert.Equal(t, providers.FailureRateLimited, providers.ClassifyFailure(providers.XAI, 429, nil))
	assert.Equal(t, providers.Failure(""), providers.ClassifyFailure(providers.Anthropic, 403, nil))
}

func TestClassifyFailure_readsOnlyTheFirst64KiB(t *testing.T) {
	body := func(pad int) []byte {
		return []byte(`{"error":{"pad":"` + strings.Repeat("x", pad) + `","code":"invalid_api_key"}}`)
	}
	// The code sits just inside the bound: read.
	short := body(64<<10 - 100)
	assert.Equal(t, providers.FailureInvalidKey, providers.ClassifyFailure(providers.OpenAI, 400, short))
	// The code sits past it: the JSON is cut, unreadable, and a 400 alone says nothing.
	long := body(64 << 10)
	assert.Equal(t, providers.Failure(""), providers.ClassifyFailure(providers.OpenAI, 400, long))
}

func TestClassifyFailure_leavesTheBodyAlone(t *testing.T) {
	for _, c := range failureCases {
		body := []byte(c.body)
		before := string(body)
		providers.ClassifyFailure(c.id, c.status, body)
		assert.Equal(t, before, string(body), c.name)
	}
}

func TestClassifyFailure_keyEchoNeverLeaves(t *testing.T) {
	const canary = "sk-canary-3b9d0f7e"
	bodies := map[providers.ID]string{
		providers.OpenAI:     `{"error":{"message":"Incorrect API key provided: ` + canary + `","type":"invalid_request_error","code":"invalid_api_key"}}`,
		providers.XAI:        `{"code":"Client specified an invalid argument","error":"Incorrect API key provided: ` + canary + `"}`,
		providers.Anthropic:  `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + canary + `"}}`,
		providers.OpenRouter: `{"error":{"message":"User not found: ` + canary + `","code":401}}`,
		providers.Gateway:    `{"error":{"message":"Invalid API key ` + canary + `","type":"authentication_error"}}`,
	}
	for id, body := range bodies {
		f := providers.ClassifyFailure(id, 401, []byte(body))
		assert.Equal(t, providers.FailureInvalidKey, f, id)
		out := fmt.Sprintf("%v %+v %#v %s", f, f, f, f)
		assert.NotContains(t, out, "canary", id)
	}
}

func TestFailure_Breaks(t *testing.T) {
	for f, want := range map[providers.Failure]bool{
		providers.FailureInvalidKey:      true,
		providers.FailureNoCredit:        true,
		providers.FailurePermission:      true,
		providers.FailureModelNotAllowed: false,
		providers.FailureRateLimited:     false,
		"":                               false,
		"INVALID_KEY":                    false,
		"something_else":                 false,
	} {
		assert.Equal(t, want, f.Breaks(), "%q", f)
	}
}

func TestFailure_values(t *testing.T) {
	// The words are stored and shown to key owners: they must not change.
	assert.Equal(t, providers.Failure("invalid_key"), providers.FailureInvalidKey)
	assert.Equal(t, providers.Failure("insufficient_credit"), providers.FailureNoCredit)
	assert.Equal(t, providers.Failure("permission_denied"), providers.FailurePermission)
	assert.Equal(t, providers.Failure("model_not_allowed"), providers.FailureModelNotAllowed)
	assert.Equal(t, providers.Failure("rate_limited"), providers.FailureRateLimited)
}

func BenchmarkClassifyFailure(b *testing.B) {
	quota := []byte(findBenchCase("openai 429 insufficient_quota type and code"))
	html := []byte(findBenchCase("openai 403 HTML from an edge"))
	large := []byte(`{"error":{"message":"` + strings.Repeat("x", 64<<10-100) + `","type":"insufficient_quota"}}`)
	for _, c := range []struct {
		name string
		body []byte
	}{{"openai-quota", quota}, {"html", html}, {"64KiB", large}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				providers.ClassifyFailure(providers.OpenAI, 429, c.body)
			}
		})
	}
}

func findBenchCase(name string) string {
	for _, c := range failureCases {
		if c.name == name {
			return c.body
		}
	}
	panic("no failure case " + name)
}
