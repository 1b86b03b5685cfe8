#!/usr/bin/env bash
# Extracts the model catalogs the providers ship into gateway.txt, anthropic.txt and
# openai.txt, one model id per line, sorted, each under a header naming the package,
# its version and where in it the list was found. Needs npm and go (the npm registry
# and the Go module proxy). Then run `go generate ./models/` to rebuild the tables the
# library uses (catalog_gen.go); its tests check that both agree.
#
#	./extract.sh [GATEWAY_VERSION [ANTHROPIC_SDK_VERSION [OPENAI_SDK_VERSION]]]
set -euo pipefail
cd "$(dirname "$0")"
gateway=${1:-4.0.146}
anthropic=${2:-v1.84.0}
openai=${3:-v3.99.0}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# @ai-sdk/gateway: the string literals of the GatewayModelId union in dist/index.d.ts.
(cd "$tmp" && npm pack --silent "@ai-sdk/gateway@$gateway" >/dev/null && tar xzf "ai-sdk-gateway-$gateway.tgz")
{
	echo "# @ai-sdk/gateway $gateway (npm): the literals of type GatewayModelId in dist/index.d.ts"
	grep -E '^type GatewayModelId = ' "$tmp/package/dist/index.d.ts" | grep -oE "'[^']+'" | tr -d "'" | LC_ALL=C sort -u
} >gateway.txt

# The Go SDKs: string constants of their model types, from the module cache.
(cd "$tmp" && go mod init catalogs >/dev/null 2>&1)
dir() { (cd "$tmp" && go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'); }
an=$(dir github.com/anthropics/anthropic-sdk-go "$anthropic")
oa=$(dir github.com/openai/openai-go/v3 "$openai")
{
	echo "# github.com/anthropics/anthropic-sdk-go $anthropic (Go): the constants of type Model in message.go"
	grep -E '^[[:space:]]*Model[A-Za-z0-9_]+[[:space:]]+Model = "' "$an/message.go" | grep -oE '"[^"]+"' | tr -d '"' | LC_ALL=C sort -u
} >anthropic.txt
{
	echo "# github.com/openai/openai-go/v3 $openai (Go): the constants of types ChatModel and ResponsesModel in shared/shared.go"
	grep -E '^[[:space:]]*(ChatModel|ResponsesModel)[A-Za-z0-9_]+[[:space:]]+(ChatModel|ResponsesModel) = "' "$oa/shared/shared.go" |
		grep -oE '"[^"]+"' | tr -d '"' | LC_ALL=C sort -u
} >openai.txt
wc -l gateway.txt anthropic.txt openai.txt
