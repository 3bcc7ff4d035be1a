// Package policies is Tollgate's default policy library: Gatekeeper ConstraintTemplates
// (templates/) and their Constraints (constraints/), with `gator verify` suites (suite*.yaml,
// tests/). The policy stage embeds the templates and constraints so the library works for any
// project; docs/policies.md is generated from it.
package policies

import "embed"

// Library holds templates/*.yaml and constraints/*.yaml.
//
//go:embed templates/*.yaml constraints/*.yaml
var Library embed.FS
