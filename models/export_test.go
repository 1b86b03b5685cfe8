package models

// Catalogs are the generated catalog tables, by the list file they come from.
var Catalogs = map[string][]string{
	"gateway.txt":   gatewayCatalog[:],
	"anthropic.txt": anthropicCatalog[:],
	"openai.txt":    openaiCatalog[:],
}
