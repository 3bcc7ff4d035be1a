package discover

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// Config writes a tollgate.yaml naming what was found, with comments saying what each entry
// is and what else can be set. root is the project directory (for checking that a glob
// written for several Dockerfiles matches exactly those). The result loads with
// config.Parse, unknown-key checks included.
func (r *Result) Config(root string) []byte {
	var b strings.Builder
	b.WriteString("# tollgate.yaml, written by `tollgate init` from what it found in this project.\n")
	b.WriteString("# Every key is optional; paths are relative to this directory and may be globs (** included).\n")
	b.WriteString("# Reference: the Configuration section of Tollgate's README.\n")
	b.WriteString("version: 1\n\n")
	b.WriteString("gate:\n  fail-on: HIGH              # lowest severity that fails a gate: CRITICAL, HIGH, MEDIUM, LOW, INFO\n\n")

	b.WriteString("lint:\n")
	if len(r.Dockerfiles) == 0 {
		b.WriteString("  # No Dockerfile found (Dockerfile, *.Dockerfile, Dockerfile.*, Containerfile).\n")
		b.WriteString("  # dockerfiles: [Dockerfile]\n")
	} else {
		fmt.Fprintf(&b, "  # %s found.\n", plural(len(r.Dockerfiles), "Dockerfile"))
		b.WriteString("  dockerfiles:\n")
		for _, e := range dockerfileEntries(root, r.Dockerfiles) {
			fmt.Fprintf(&b, "    - %s\n", quote(e))
		}
	}
	b.WriteString("  # allowed-registries: [docker.io, gcr.io]   # where base images may come from\n\n")

	b.WriteString("validate:\n")
	paths := r.ManifestPaths()
	if len(paths) == 0 {
		b.WriteString("  # No Kubernetes manifests found (kustomizations, Helm charts, YAML or JSON with apiVersion and kind).\n")
		b.WriteString("  # paths: [k8s]\n")
	} else {
		b.WriteString("  paths:\n")
		for _, p := range paths {
			fmt.Fprintf(&b, "    - %-28s # %s\n", quote(p), r.describe(p))
		}
	}
	b.WriteString("  kubernetes-version: 1.36.0   # schemas to validate against\n")
	b.WriteString("  # crds: [crds]                # CustomResourceDefinitions for custom resources\n\n")

	b.WriteString("# score:                          # kube-score checks the same manifests (score.paths to change that)\n")
	b.WriteString("#   checks: {container-image-pull-policy: LOW}\n\n")
	b.WriteString("# Image stages (sbom, scan) need an image: a docker-save or OCI tarball, an OCI layout\n")
	b.WriteString("# directory or a registry reference; or pass --image to `tollgate run`.\n")
	b.WriteString("# scan:\n#   image: build/app.tar\n#   ignore-unfixed: true\n")
	return []byte(b.String())
}

// describe says what a manifest path is, for its comment.
func (r *Result) describe(p string) string {
	has := func(list []string) bool {
		for _, x := range list {
			if x == p {
				return true
			}
		}
		return false
	}
	switch {
	case has(r.Kustomizations):
		return "kustomization (rendered with its bases and components)"
	case has(r.Charts):
		return "Helm chart (rendered with helm template)"
	case has(r.Files):
		return "manifest file"
	}
	var inside []string
	for _, k := range r.Kustomizations {
		if strings.HasPrefix(k, p+"/") {
			inside = append(inside, "kustomizations")
			break
		}
	}
	for _, c := range r.Charts {
		if strings.HasPrefix(c, p+"/") {
			inside = append(inside, "Helm charts")
			break
		}
	}
	if len(inside) > 0 {
		return "manifests, with " + strings.Join(inside, " and ")
	}
	return "manifest directory"
}

// dockerfileEntries lists Dockerfiles, folding a group like src/*/Dockerfile into one glob
// when the glob matches exactly that group (so it also covers services added later).
func dockerfileEntries(root string, files []string) []string {
	groups := map[string][]string{}
	for _, f := range files {
		key := f
		if dir := path.Dir(f); dir != "." {
			key = path.Join(path.Dir(dir), "*", path.Base(f))
		}
		groups[key] = append(groups[key], f)
	}
	var out []string
	for key, g := range groups {
		if len(g) >= 3 && path.Base(path.Dir(key)) == "*" {
			if m, err := config.Glob(root, key); err == nil && sameSet(m, g) {
				out = append(out, key)
				continue
			}
		}
		out = append(out, g...)
	}
	sort.Strings(out)
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := append([]string{}, a...), append([]string{}, b...)
	sort.Strings(sa)
	sort.Strings(sb)
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}

// quote writes a path as a YAML scalar, quoted when YAML would read it otherwise.
func quote(p string) string {
	if strings.ContainsAny(p, ":#{}[],&*!|>'\"%@`") || strings.HasPrefix(p, "-") || strings.HasPrefix(p, "?") {
		return strconv.Quote(p)
	}
	switch strings.ToLower(p) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~":
		return strconv.Quote(p)
	}
	return p
}
