package build

import (
	"path/filepath"
	"sort"
	"strings"
)

// FrontendAttrs are the options of BuildKit's Dockerfile frontend for the plan.
func FrontendAttrs(p *Plan) map[string]string {
	a := map[string]string{
		"filename": filepath.Base(p.Dockerfile),
		// Build with the frontend built into the pinned BuildKit: a `# syntax=` line would
		// otherwise pull a frontend image from Docker Hub, which is neither pinned nor offline.
		// The frontend only checks that this key is present.
		"cmdline": "",
	}
	if p.Target != "" {
		a["target"] = p.Target
	}
	for k, v := range p.BuildArgs {
		a["build-arg:"+k] = v
	}
	if len(p.Platforms) > 0 {
		a["platform"] = strings.Join(p.Platforms, ",")
	}
	return a
}

// ExportAttrs are the options of BuildKit's OCI exporter: annotations on the manifest (and on
// the index when several platforms are built) and, with SOURCE_DATE_EPOCH, file timestamps in
// the layers clamped to it so the layers are byte-for-byte reproducible.
func ExportAttrs(p *Plan) map[string]string {
	a := map[string]string{"oci-mediatypes": "true"}
	for k, v := range p.Annotations {
		a["annotation."+k] = v
		if len(p.Platforms) > 1 {
			a["annotation-index."+k] = v
		}
	}
	if p.SourceDateEpoch != "" {
		a["rewrite-timestamp"] = "true"
	}
	return a
}

// BuildxArgs are the arguments of `docker buildx build` for the plan, writing an OCI archive to
// dest. Secrets are named by id and env var or file only; their values never appear here.
func BuildxArgs(p *Plan, dest string) []string {
	args := []string{"buildx", "build", "--file", p.Dockerfile, "--output", "type=oci,dest=" + dest + ",oci-mediatypes=true" + rewriteOpt(p),
		"--provenance=false", "--sbom=false", "--progress=plain"}
	if p.Target != "" {
		args = append(args, "--target", p.Target)
	}
	for _, kv := range p.SortedBuildArgs() {
		args = append(args, "--build-arg", kv)
	}
	for _, s := range p.Secrets {
		if s.Env != "" {
			args = append(args, "--secret", "id="+s.ID+",env="+s.Env)
		} else {
			args = append(args, "--secret", "id="+s.ID+",src="+s.File)
		}
	}
	if len(p.Platforms) > 0 {
		args = append(args, "--platform", strings.Join(p.Platforms, ","))
	}
	keys := make([]string, 0, len(p.Annotations))
	for k := range p.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--annotation", "manifest:"+k+"="+p.Annotations[k])
		if len(p.Platforms) > 1 {
			args = append(args, "--annotation", "index:"+k+"="+p.Annotations[k])
		}
	}
	return append(args, p.ContextDir)
}

func rewriteOpt(p *Plan) string {
	if p.SourceDateEpoch == "" {
		return ""
	}
	return ",rewrite-timestamp=true"
}
