// Package openapi holds the OpenAPI 3 description of elier-api's routes,
// embedded so the binary serves it at /openapi.json.
package openapi

import _ "embed"

//go:embed openapi.json
var spec string

// JSON returns the description (OpenAPI 3.1, JSON).
func JSON() string { return spec }
