package cosign

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Where a release stage's image came from.
const (
	FromPushed  = "pushed in this run"
	FromSigned  = "signed in this run"
	FromArgs    = "command line"
	FromConfig  = "tollgate.yaml"
	FromNowhere = ""
)

// Targets are the images a release stage works on, in order of precedence: the digest pushed in
// this run (stage.KeyPublishedRef), else the one signed in this run (stage.KeySignedRef; attest
// and verify read it), else the command line's IMAGE arguments, else the first configured image.
func Targets(env *stage.Env, useSigned bool, configured ...string) (refs []string, from string) {
	if env.Shared != nil {
		if v, ok := env.Shared.Get(stage.KeyPublishedRef); ok {
			if s, ok := v.(string); ok && s != "" {
				return []string{s}, FromPushed
			}
		}
		if useSigned {
			if v, ok := env.Shared.Get(stage.KeySignedRef); ok {
				if s, ok := v.(string); ok && s != "" {
					return []string{s}, FromSigned
				}
			}
		}
	}
	for _, a := range env.Args {
		if a = strings.TrimSpace(a); a != "" {
			refs = append(refs, a)
		}
	}
	if len(refs) > 0 {
		return refs, FromArgs
	}
	for _, c := range configured {
		if c = strings.TrimSpace(c); c != "" {
			return []string{c}, FromConfig
		}
	}
	return nil, FromNowhere
}

// WriteArtifact stores a file in the reports directory complete or not at all (temp file,
// rename): nothing half-written is ever left for a later step to pick up.
func WriteArtifact(dir, fileName, description string, b []byte) (model.Artifact, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return model.Artifact{}, &model.ToolError{Tool: "tollgate", Err: err}
	}
	f, err := os.CreateTemp(dir, "."+fileName+"-*")
	if err != nil {
		return model.Artifact{}, &model.ToolError{Tool: "tollgate", Err: err}
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return model.Artifact{}, &model.ToolError{Tool: "tollgate", Err: err}
	}
	dst := filepath.Join(dir, fileName)
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return model.Artifact{}, &model.ToolError{Tool: "tollgate", Err: err}
	}
	return model.Artifact{Name: description, Path: dst, Type: "application/json"}, nil
}

// Record is what a release stage did, written as an artifact (signed.json, attested.json) for
// the steps after it: the exact digests, never a tag.
type Record struct {
	Image      string       `json:"image"`
	Reference  string       `json:"reference"`
	Digest     string       `json:"digest"`
	Manifests  []Manifest   `json:"manifests,omitempty"`
	Signer     string       `json:"signer"`
	Tlog       bool         `json:"tlog"`
	Predicates []RecordPred `json:"predicates,omitempty"`
}

// RecordPred is one attestation written.
type RecordPred struct {
	Type   string `json:"type"`
	URI    string `json:"predicateType"`
	Source string `json:"source"`
}

// NewRecord describes a subject signed or attested with s.
func NewRecord(subj *Subject, s *Signing) Record {
	return Record{Image: subj.Input, Reference: subj.Ref(), Digest: subj.Digest, Manifests: subj.Manifests,
		Signer: s.Material.KeyDescription(), Tlog: s.Signer.TlogUpload}
}

// JSON renders the record.
func (r Record) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}
