package cosign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"time"

	slsacommon "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/common"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// BuildType identifies Tollgate's provenance: how to read its parameters.
const BuildType = "https://github.com/tollgate-dev/tollgate/blob/main/docs/signing.md#provenance-v1"

// DefaultBuilderID names Tollgate as the builder when no CI run identifies itself.
const DefaultBuilderID = "https://github.com/tollgate-dev/tollgate"

// Source is the source revision the pipeline ran on.
type Source struct {
	// Repository is the repository URL, credentials removed.
	Repository string
	// Revision is the commit (git SHA).
	Revision string
	// Ref is the branch or tag, when known.
	Ref string
	// Dirty says the work tree had uncommitted changes to tracked files.
	Dirty bool
}

// CI is what the CI system says about the run, read from its environment.
type CI struct {
	// BuilderID is the URL of the CI run (GitHub Actions run, GitLab job); "" outside CI.
	BuilderID string
	// Source as the CI names it.
	Source Source
}

// CIFromEnv reads GitHub Actions' and GitLab CI's variables.
func CIFromEnv(lookup func(string) (string, bool)) CI {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	var ci CI
	switch {
	case get("GITHUB_ACTIONS") == "true":
		server, repo := get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY")
		if server != "" && repo != "" {
			ci.Source.Repository = server + "/" + repo
			if id := get("GITHUB_RUN_ID"); id != "" {
				ci.BuilderID = ci.Source.Repository + "/actions/runs/" + id
				if a := get("GITHUB_RUN_ATTEMPT"); a != "" {
					ci.BuilderID += "/attempts/" + a
				}
			}
		}
		ci.Source.Revision, ci.Source.Ref = get("GITHUB_SHA"), get("GITHUB_REF")
	case get("GITLAB_CI") == "true":
		ci.Source.Repository = get("CI_PROJECT_URL")
		ci.BuilderID = get("CI_JOB_URL")
		ci.Source.Revision, ci.Source.Ref = get("CI_COMMIT_SHA"), get("CI_COMMIT_REF_NAME")
	}
	ci.Source.Repository = StripCredentials(ci.Source.Repository)
	return ci
}

// SourceFromGit reads the revision, origin URL and dirtiness of the git work tree at dir. Git
// missing or dir not a repository yields an empty Source and the reason.
func SourceFromGit(ctx context.Context, dir string) (Source, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	git := func(args ...string) (string, error) {
		// safe.directory: in CI the checkout is often owned by another user, and git would refuse
		// to read it; Tollgate only reads metadata.
		cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "safe.directory=*", "-C", dir}, args...)...)
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "GIT_TERMINAL_PROMPT=0", "HOME=/nonexistent"}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(errb.String()))
		}
		return strings.TrimSpace(out.String()), nil
	}
	var s Source
	rev, err := git("rev-parse", "HEAD")
	if err != nil {
		return Source{}, err
	}
	s.Revision = rev
	if u, err := git("remote", "get-url", "origin"); err == nil {
		s.Repository = StripCredentials(u)
	}
	if ref, err := git("symbolic-ref", "-q", "HEAD"); err == nil {
		s.Ref = ref
	}
	if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil {
		s.Dirty = st != ""
	}
	return s, nil
}

// StripCredentials removes user:password@ from a URL (a CI clone URL may carry a token).
func StripCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// ProvenanceInput is what the SLSA provenance records.
type ProvenanceInput struct {
	Subject *Subject
	Source  Source
	// BuilderID is the builder (the CI run's URL, else DefaultBuilderID).
	BuilderID string
	// Results are the pipeline's stage results so far, in pipeline order.
	Results []*model.StageResult
	// Started and Finished bound the pipeline run.
	Started, Finished time.Time
	// ConfigFile and Config are tollgate.yaml as used (its name and bytes; nil when defaults).
	ConfigFile string
	Config     []byte
}

// ProvenanceDoc is Tollgate's external parameters: what a verifier may check.
type provenanceParams struct {
	Source struct {
		Repository string `json:"repository,omitempty"`
		Revision   string `json:"revision,omitempty"`
		Ref        string `json:"ref,omitempty"`
		Dirty      bool   `json:"dirty,omitempty"`
	} `json:"source"`
	Image struct {
		Reference string   `json:"reference"`
		Input     string   `json:"input,omitempty"`
		Manifests []string `json:"manifests,omitempty"`
	} `json:"image"`
	Config *struct {
		File   string `json:"file"`
		SHA256 string `json:"sha256"`
	} `json:"config,omitempty"`
	Stages []string `json:"stages"`
}

// Provenance writes the SLSA provenance v1 predicate for a pipeline run: source repository and
// revision, the image digest, every stage's gated result, the pinned tool versions, and the run's
// start and end. It uses only fields cosign v2.6.5 re-encodes unchanged, so the predicate
// round-trips through `cosign attest` (runDetails.metadata.invocationId does not: cosign's
// in-toto library spells it invocationID, so the CI run goes in builder.id instead).
func Provenance(in ProvenanceInput) ([]byte, error) {
	if in.Subject == nil {
		return nil, fmt.Errorf("provenance: no subject")
	}
	var p provenanceParams
	p.Source.Repository, p.Source.Revision, p.Source.Ref, p.Source.Dirty = in.Source.Repository, in.Source.Revision, in.Source.Ref, in.Source.Dirty
	p.Image.Reference, p.Image.Input = in.Subject.Ref(), in.Subject.Input
	for _, m := range in.Subject.Manifests {
		p.Image.Manifests = append(p.Image.Manifests, in.Subject.Repo+"@"+m.Digest)
	}
	if in.Config != nil {
		sum := sha256.Sum256(in.Config)
		p.Config = &struct {
			File   string `json:"file"`
			SHA256 string `json:"sha256"`
		}{File: in.ConfigFile, SHA256: hex.EncodeToString(sum[:])}
	}
	p.Stages = []string{}
	for _, r := range in.Results {
		p.Stages = append(p.Stages, r.Stage)
	}
	external, err := toAny(p)
	if err != nil {
		return nil, err
	}

	var deps []slsa1.ResourceDescriptor
	if in.Source.Repository != "" || in.Source.Revision != "" {
		d := slsa1.ResourceDescriptor{URI: gitURI(in.Source), Name: "source"}
		if in.Source.Revision != "" {
			d.Digest = slsacommon.DigestSet{"gitCommit": in.Source.Revision}
		}
		deps = append(deps, d)
	}
	used := map[string]bool{}
	for _, r := range in.Results {
		used[r.Tool.Name] = true
	}
	var pins []map[string]string
	for _, t := range tools.All() {
		pins = append(pins, map[string]string{"name": t.Name, "module": t.Module, "version": t.Version, "image": t.Image})
		if used[t.Name] {
			deps = append(deps, slsa1.ResourceDescriptor{Name: t.Name, URI: "pkg:golang/" + t.Module + "@" + t.Version,
				Annotations: map[string]any{"image": t.Image}})
		}
	}
	internal, err := toAny(map[string]any{"tollgate": model.Version, "tools": pins})
	if err != nil {
		return nil, err
	}

	var byproducts []slsa1.ResourceDescriptor
	for _, r := range in.Results {
		a := map[string]any{
			"status":     string(r.Status),
			"tool":       r.Tool.Name + "@" + r.Tool.Version,
			"findings":   len(r.Active()),
			"suppressed": len(r.Suppressed()),
			"blocking":   countBlocking(r),
			"durationMs": r.Duration.Milliseconds(),
		}
		if r.Summary != "" {
			a["summary"] = r.Summary
		}
		if r.Error != "" {
			a["error"] = r.Error
		}
		byproducts = append(byproducts, slsa1.ResourceDescriptor{Name: "stage/" + r.Stage, MediaType: "application/vnd.tollgate.stage-result+json", Annotations: a})
	}

	builder := in.BuilderID
	if builder == "" {
		builder = DefaultBuilderID
	}
	pred := slsa1.ProvenancePredicate{
		BuildDefinition: slsa1.ProvenanceBuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   external,
			InternalParameters:   internal,
			ResolvedDependencies: deps,
		},
		RunDetails: slsa1.ProvenanceRunDetails{
			Builder:    slsa1.Builder{ID: builder, Version: map[string]string{"tollgate": model.Version}},
			Byproducts: byproducts,
		},
	}
	if !in.Started.IsZero() {
		s := in.Started.UTC()
		pred.RunDetails.BuildMetadata.StartedOn = &s
	}
	if !in.Finished.IsZero() {
		f := in.Finished.UTC()
		pred.RunDetails.BuildMetadata.FinishedOn = &f
	}
	return json.MarshalIndent(pred, "", "  ")
}

func gitURI(s Source) string {
	u := s.Repository
	if u == "" {
		return ""
	}
	if !strings.HasPrefix(u, "git+") {
		u = "git+" + u
	}
	if s.Ref != "" {
		u += "@" + s.Ref
	}
	return u
}

func countBlocking(r *model.StageResult) int {
	n := 0
	for _, f := range r.Findings {
		if f.Blocking {
			n++
		}
	}
	return n
}

// toAny turns a value into plain JSON data (maps, slices, strings, float64), which is what a
// predicate read back from an attestation is made of.
func toAny(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
