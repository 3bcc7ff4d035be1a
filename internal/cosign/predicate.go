package cosign

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PredicateType is one kind of in-toto attestation Tollgate writes and verifies.
type PredicateType struct {
	// Name is cosign's --type name.
	Name string
	// URI is the in-toto predicateType the statement carries.
	URI string
	// Aliases are other names tollgate.yaml accepts.
	Aliases []string
	// timeField is the predicate's own record of when it was made (a path of JSON keys).
	timeField [][]string
}

// The predicate types. The table is read-only.
var predicateTypes = [...]PredicateType{
	{Name: "spdxjson", URI: "https://spdx.dev/Document", Aliases: []string{"spdx"},
		timeField: [][]string{{"creationInfo", "created"}}},
	{Name: "cyclonedx", URI: "https://cyclonedx.org/bom",
		timeField: [][]string{{"metadata", "timestamp"}}},
	{Name: "vuln", URI: "https://cosign.sigstore.dev/attestation/vuln/v1",
		timeField: [][]string{{"metadata", "scanFinishedOn"}, {"metadata", "scanStartedOn"}}},
	{Name: "slsaprovenance1", URI: "https://slsa.dev/provenance/v1", Aliases: []string{"provenance"},
		timeField: [][]string{{"runDetails", "metadata", "finishedOn"}, {"runDetails", "metadata", "startedOn"}}},
}

// Predicate type names as cosign spells them.
const (
	TypeSPDX       = "spdxjson"
	TypeCycloneDX  = "cyclonedx"
	TypeVuln       = "vuln"
	TypeProvenance = "slsaprovenance1"
)

// PredicateTypes lists the predicate types by cosign name.
func PredicateTypes() []PredicateType { return predicateTypes[:] }

// lookupType finds a predicate type by cosign name, alias or URI.
func lookupType(name string) (PredicateType, bool) {
	n := strings.TrimSpace(name)
	for _, t := range predicateTypes {
		if strings.EqualFold(t.Name, n) || t.URI == n {
			return t, true
		}
		for _, a := range t.Aliases {
			if strings.EqualFold(a, n) {
				return t, true
			}
		}
	}
	return PredicateType{}, false
}

// LookupType finds a predicate type by cosign name, alias (spdx, provenance) or URI.
func LookupType(name string) (PredicateType, bool) { return lookupType(name) }

// Statement is a verified in-toto statement read back from an attestation.
type Statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []StatementSubj `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// StatementSubj is one subject of a statement.
type StatementSubj struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Time is when the statement's predicate says it was made (zero when it does not say).
func (s *Statement) Time() time.Time {
	t, ok := lookupType(s.PredicateType)
	if !ok {
		return time.Time{}
	}
	var doc map[string]any
	if json.Unmarshal(s.Predicate, &doc) != nil {
		return time.Time{}
	}
	for _, path := range t.timeField {
		if v, ok := dig(doc, path).(string); ok {
			if ts, err := time.Parse(time.RFC3339Nano, v); err == nil && !ts.IsZero() && ts.Year() > 1 {
				return ts
			}
		}
	}
	return time.Time{}
}

// Covers reports whether the statement names digest (sha256:...) among its subjects.
func (s *Statement) Covers(digest string) bool {
	hex := strings.TrimPrefix(digest, "sha256:")
	for _, sub := range s.Subject {
		if sub.Digest["sha256"] == hex {
			return true
		}
	}
	return false
}

func dig(doc map[string]any, path []string) any {
	var cur any = doc
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// envelope is a DSSE envelope as `cosign verify-attestation --output json` prints it, one per line.
type envelope struct {
	PayloadType string `json:"payloadType"`
	Payload     []byte `json:"payload"` // base64 in JSON
}

// ParseAttestations reads the verified statements cosign verify-attestation printed (one DSSE
// envelope per line). Output that is not that is an error: the caller fails closed.
func ParseAttestations(stdout []byte) ([]Statement, error) {
	var out []Statement
	for i, line := range strings.Split(string(stdout), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var env envelope
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			return nil, fmt.Errorf("line %d of cosign's output is not a DSSE envelope: %v", i+1, err)
		}
		if env.PayloadType != "application/vnd.in-toto+json" {
			return nil, fmt.Errorf("line %d of cosign's output: payload type %q, want in-toto", i+1, env.PayloadType)
		}
		var st Statement
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			return nil, fmt.Errorf("line %d of cosign's output: not an in-toto statement: %v", i+1, err)
		}
		if st.PredicateType == "" || len(st.Subject) == 0 {
			return nil, fmt.Errorf("line %d of cosign's output: statement without predicate type or subject", i+1)
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cosign verified attestations but printed none")
	}
	return out, nil
}

// SignaturePayload is one verified signature's payload, as `cosign verify --output json` prints
// them (a JSON array of simple-signing payloads).
type SignaturePayload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// ParseSignatures reads cosign verify's JSON output and checks every verified signature is for
// digest: a signature for anything else would be cosign misbehaving, and fails closed.
func ParseSignatures(stdout []byte, digest string) ([]SignaturePayload, error) {
	var sigs []SignaturePayload
	if err := json.Unmarshal(stdout, &sigs); err != nil {
		// cosign prints one JSON array per image; with one image there is exactly one.
		return nil, fmt.Errorf("cosign verify printed no JSON list of signatures: %v", err)
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("cosign verify exited 0 but listed no signature")
	}
	for _, s := range sigs {
		if s.Critical.Image.DockerManifestDigest != digest {
			return nil, fmt.Errorf("cosign verify returned a signature for %s, want %s", s.Critical.Image.DockerManifestDigest, digest)
		}
	}
	return sigs, nil
}
