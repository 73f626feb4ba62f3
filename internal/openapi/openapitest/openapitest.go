// Package openapitest checks rendered OpenAPI documents with an independent
// validator (kin-openapi), for tests only.
package openapitest

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// Validate fails the test unless data is a valid OpenAPI 3.0 document whose
// references all resolve, and returns it parsed.
func Validate(t testing.TB, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("OpenAPI document does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("OpenAPI document is invalid: %v", err)
	}
	return doc
}
