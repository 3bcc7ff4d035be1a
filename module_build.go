package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/build"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/push"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// dockerfileCopy is where the Dockerfile goes when build.dockerfile lies outside build.context:
// DockerBuild reads the Dockerfile from the context it builds.
const dockerfileCopy = ".tollgate.Dockerfile"

// Build builds the project's Dockerfile with the engine's BuildKit (Directory.DockerBuild) and
// returns the image for one platform: --platform, else the first of build.platforms in
// tollgate.yaml, else the engine's own. Use Variants for every platform and Publish to push them
// all as one multi-platform image. Dockerfile, context, target and build args come from
// tollgate.yaml's build section (the ones the lint stage checks), overridden by the arguments.
// The image carries OCI annotations (source, revision, created); with sourceDateEpoch the
// created time is that instant and the build sees SOURCE_DATE_EPOCH.
//
// +cache="session"
func (m *Tollgate) Build(
	ctx context.Context,
	// Dockerfile, relative to the source root; default from tollgate.yaml (build.dockerfile).
	// +optional
	dockerfile string,
	// Dockerfile stage to build; default from tollgate.yaml (build.target), else the last one.
	// +optional
	target string,
	// Build arguments KEY=VALUE, added to tollgate.yaml's build.build-args.
	// +optional
	buildArgs []string,
	// Build secrets for RUN --mount=type=secret,id=ID steps; never stored in the image.
	// +optional
	secrets []*dagger.Secret,
	// The ids of secrets, in the same order (default: each secret's name).
	// +optional
	secretIds []string,
	// Platform to build, e.g. linux/arm64.
	// +optional
	platform dagger.Platform,
	// Source repository URL for the org.opencontainers.image.source annotation (the module does
	// not see .git).
	// +optional
	sourceUrl string,
	// Commit for the org.opencontainers.image.revision annotation.
	// +optional
	revision string,
	// SOURCE_DATE_EPOCH (seconds): the image's created time and the build arg of that name, for
	// reproducible builds.
	// +optional
	sourceDateEpoch int,
) (*dagger.Container, error) {
	in := buildInputs{dockerfile: dockerfile, target: target, buildArgs: buildArgs, secrets: secrets, secretIDs: secretIds,
		sourceURL: sourceUrl, revision: revision, epoch: sourceDateEpoch}
	if platform != "" {
		in.platforms = []dagger.Platform{platform}
	}
	variants, err := m.variants(ctx, in, true)
	if err != nil {
		return nil, err
	}
	return variants[0], nil
}

// Variants builds the Dockerfile like Build for every platform (the arguments, else
// build.platforms in tollgate.yaml, else the engine's own) and returns one container per
// platform, in that order.
//
// +cache="session"
func (m *Tollgate) Variants(
	ctx context.Context,
	// Platforms to build, e.g. linux/amd64 and linux/arm64.
	// +optional
	platforms []dagger.Platform,
	// Dockerfile, relative to the source root; default from tollgate.yaml (build.dockerfile).
	// +optional
	dockerfile string,
	// Dockerfile stage to build; default from tollgate.yaml (build.target).
	// +optional
	target string,
	// Build arguments KEY=VALUE, added to tollgate.yaml's build.build-args.
	// +optional
	buildArgs []string,
	// Build secrets for RUN --mount=type=secret,id=ID steps.
	// +optional
	secrets []*dagger.Secret,
	// The ids of secrets, in the same order (default: each secret's name).
	// +optional
	secretIds []string,
	// Source repository URL for the source annotation.
	// +optional
	sourceUrl string,
	// Commit for the revision annotation.
	// +optional
	revision string,
	// SOURCE_DATE_EPOCH (seconds).
	// +optional
	sourceDateEpoch int,
) ([]*dagger.Container, error) {
	return m.variants(ctx, buildInputs{platforms: platforms, dockerfile: dockerfile, target: target, buildArgs: buildArgs,
		secrets: secrets, secretIDs: secretIds, sourceURL: sourceUrl, revision: revision, epoch: sourceDateEpoch}, false)
}

// Publish builds every platform variant (as Variants) and pushes them as one image to the
// repository (default: push.repository in tollgate.yaml), under each tag (default: push.tags,
// else latest). It returns the pushed reference pinned by digest, repo@sha256:..., which is what
// signing and deployment must use, never the tag.
func (m *Tollgate) Publish(
	ctx context.Context,
	// Repository to push to, registry/path without tag; default push.repository.
	// +optional
	repository string,
	// Tags to push; default push.tags, else latest.
	// +optional
	tags []string,
	// Registry username.
	// +optional
	registryUsername string,
	// Registry password or token.
	// +optional
	registryPassword *dagger.Secret,
	// Platforms to build; default build.platforms, else the engine's own.
	// +optional
	platforms []dagger.Platform,
	// Build arguments KEY=VALUE, added to tollgate.yaml's build.build-args.
	// +optional
	buildArgs []string,
	// Build secrets for RUN --mount=type=secret,id=ID steps.
	// +optional
	secrets []*dagger.Secret,
	// The ids of secrets, in the same order (default: each secret's name).
	// +optional
	secretIds []string,
	// Source repository URL for the source annotation.
	// +optional
	sourceUrl string,
	// Commit for the revision annotation.
	// +optional
	revision string,
	// SOURCE_DATE_EPOCH (seconds).
	// +optional
	sourceDateEpoch int,
) (string, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return "", err
	}
	repo, tagList, err := publishTarget(cfg, repository, tags)
	if err != nil {
		return "", err
	}
	variants, err := m.variants(ctx, buildInputs{platforms: platforms, buildArgs: buildArgs, secrets: secrets, secretIDs: secretIds,
		sourceURL: sourceUrl, revision: revision, epoch: sourceDateEpoch}, false)
	if err != nil {
		return "", err
	}
	return publish(ctx, variants, repo, tagList, registryUsername, registryPassword)
}

// publish pushes the variants as one image under each tag and returns the reference pinned by
// digest; every tag must name the same digest.
func publish(ctx context.Context, variants []*dagger.Container, repo string, tags []string, user string, password *dagger.Secret) (string, error) {
	first := variants[0]
	if password != nil {
		first = first.WithRegistryAuth(repo, user, password)
	}
	pinned := ""
	for _, tag := range tags {
		out, err := first.Publish(ctx, repo+":"+tag, dagger.ContainerPublishOpts{PlatformVariants: variants[1:]})
		if err != nil {
			return "", &model.ToolError{Tool: push.Tool().Name, Err: fmt.Errorf("publish %s:%s: %w", repo, tag, err)}
		}
		ref, err := push.PinnedRef(out)
		if err != nil {
			return "", &model.ToolError{Tool: push.Tool().Name, Err: err}
		}
		if pinned != "" && ref != pinned {
			return "", &model.ToolError{Tool: push.Tool().Name, Err: fmt.Errorf("publish %s: tag %s got %s, an earlier tag %s", repo, tag, ref, pinned)}
		}
		pinned = ref
	}
	return pinned, nil
}

// buildStage is the run's build stage: it builds every platform variant and makes the engine
// finish the first (sbom and scan read it), so a Dockerfile that does not build fails here, as
// the user's input, and the report names the image by digest.
func (m *Tollgate) buildStage(ctx context.Context, in buildInputs) (*model.StageResult, []*dagger.Container, error) {
	variants, err := m.variants(ctx, in, false)
	if err != nil {
		return nil, nil, err
	}
	for _, v := range variants {
		if _, err := v.Sync(ctx); err != nil {
			return nil, nil, buildError(err)
		}
	}
	digest, err := containerDigest(ctx, variants[0])
	if err != nil {
		return nil, nil, err
	}
	res := &model.StageResult{Stage: build.Name, Tool: engineBuilder(), Findings: []model.Finding{},
		Artifacts: []model.Artifact{{Name: fmt.Sprintf("image %s (%d platform(s))", digest, len(variants)), Path: digest, Type: "image-digest"}}}
	return res, variants, nil
}

// engineBuilder is the build stage's tool in the Dagger runner: the engine's own BuildKit.
func engineBuilder() model.Tool { return model.Tool{Name: "dagger-docker-build", Version: "engine"} }

// buildError classifies a failed build: a Dockerfile step that failed or a Dockerfile BuildKit
// cannot read is the user's input (exit 2, with BuildKit's message); anything else is the
// engine's failure (exit 3).
func buildError(err error) error {
	var ee *dagger.ExecError
	if errors.As(err, &ee) {
		return &model.InputError{Err: fmt.Errorf("build: a Dockerfile step failed (exit %d): %s", ee.ExitCode, tools.LastLines([]byte(ee.Stderr), 10))}
	}
	msg := err.Error()
	for _, s := range []string{"dockerfile", "failed to solve", "failed to compute cache key", "not found", "parse error"} {
		if strings.Contains(strings.ToLower(msg), s) {
			return &model.InputError{Err: fmt.Errorf("build: %s", msg)}
		}
	}
	return &model.ToolError{Tool: engineBuilder().Name, Err: fmt.Errorf("build: %w", err)}
}

type buildInputs struct {
	platforms  []dagger.Platform
	dockerfile string
	target     string
	buildArgs  []string
	secrets    []*dagger.Secret
	secretIDs  []string
	sourceURL  string
	revision   string
	epoch      int
}

// variants builds one container per platform from the config plus the arguments. With first,
// only the first platform is built.
func (m *Tollgate) variants(ctx context.Context, in buildInputs, first bool) ([]*dagger.Container, error) {
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	spec, err := buildSpec(cfg, in)
	if err != nil {
		return nil, err
	}
	if err := insideSource([]string{spec.contextDir, spec.dockerfile}); err != nil {
		return nil, err
	}
	dir := m.Source.Directory(spec.contextDir)
	df, inside := relativeTo(spec.contextDir, spec.dockerfile)
	if !inside {
		dir, df = dir.WithFile(dockerfileCopy, m.Source.File(spec.dockerfile)), dockerfileCopy
	}
	secretIDs, err := m.buildSecrets(ctx, in)
	if err != nil {
		return nil, err
	}
	platforms := in.platforms
	if len(platforms) == 0 {
		for _, p := range cfg.Build.Platforms {
			platforms = append(platforms, dagger.Platform(p))
		}
	}
	if len(platforms) == 0 {
		platforms = []dagger.Platform{""} // the engine's own
	}
	if first {
		platforms = platforms[:1]
	}
	var args []dagger.BuildArg
	for _, kv := range spec.buildArgs {
		k, v, _ := strings.Cut(kv, "=")
		args = append(args, dagger.BuildArg{Name: k, Value: v})
	}
	var out []*dagger.Container
	for _, p := range platforms {
		opts := dagger.DirectoryDockerBuildOpts{Dockerfile: df, Target: spec.target, BuildArgs: args, Secrets: secretIDs}
		if p != "" {
			opts.Platform = p
		}
		c := dir.DockerBuild(opts)
		for _, k := range spec.annotationKeys {
			c = c.WithAnnotation(k, spec.annotations[k])
		}
		out = append(out, c)
	}
	return out, nil
}

// buildSecrets gives every secret the id the Dockerfile mounts: DockerBuild mounts a secret
// under its name, so a secret named otherwise is re-registered under its id. Its value moves
// from the engine to this module and back, never into an argument, a log or a layer.
func (m *Tollgate) buildSecrets(ctx context.Context, in buildInputs) ([]*dagger.Secret, error) {
	if len(in.secretIDs) > 0 && len(in.secretIDs) != len(in.secrets) {
		return nil, fmt.Errorf("build secrets: %d secrets but %d secret ids", len(in.secrets), len(in.secretIDs))
	}
	var out []*dagger.Secret
	for i, s := range in.secrets {
		if len(in.secretIDs) == 0 {
			out = append(out, s)
			continue
		}
		name, err := s.Name(ctx)
		if err != nil {
			return nil, fmt.Errorf("build secret %s: %w", in.secretIDs[i], err)
		}
		if name == in.secretIDs[i] {
			out = append(out, s)
			continue
		}
		plain, err := s.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("build secret %s: %w", in.secretIDs[i], err)
		}
		out = append(out, dag.SetSecret(in.secretIDs[i], plain))
	}
	return out, nil
}

// buildSpecValues is what the module builds: the config's build section with the arguments
// applied, in the same form the native runner uses.
type buildSpecValues struct {
	contextDir     string
	dockerfile     string
	target         string
	buildArgs      []string // KEY=VALUE, sorted
	annotations    map[string]string
	annotationKeys []string // sorted
}

// buildSpec applies the function arguments to the config (pure; unit-tested).
func buildSpec(cfg *config.Config, in buildInputs) (*buildSpecValues, error) {
	c := *cfg
	c.Build.BuildArgs = map[string]string{}
	for k, v := range cfg.Build.BuildArgs {
		c.Build.BuildArgs[k] = v
	}
	if in.dockerfile != "" {
		c.Build.Dockerfile = in.dockerfile
	}
	if in.target != "" {
		c.Build.Target = in.target
	}
	for _, kv := range in.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("build arg %q: want KEY=VALUE", kv)
		}
		c.Build.BuildArgs[k] = v
	}
	if err := c.ValidateBuild(); err != nil {
		return nil, err
	}
	epoch := ""
	if in.epoch > 0 {
		epoch = strconv.Itoa(in.epoch)
		if _, ok := c.Build.BuildArgs[build.EnvSourceDateEpoch]; !ok {
			c.Build.BuildArgs[build.EnvSourceDateEpoch] = epoch
		}
	}
	p := &build.Plan{BuildArgs: c.Build.BuildArgs}
	s := &buildSpecValues{contextDir: c.Build.ContextDir(), dockerfile: c.Build.DockerfilePath(), target: c.Build.Target,
		buildArgs: p.SortedBuildArgs(), annotations: build.Annotations(build.GitInfo{Source: build.StripCredentials(in.sourceURL), Revision: in.revision}, epoch)}
	for k := range s.annotations {
		s.annotationKeys = append(s.annotationKeys, k)
	}
	sort.Strings(s.annotationKeys)
	return s, nil
}

// relativeTo returns p relative to dir (both clean, slash-separated, relative to the source
// root) and whether p lies inside dir.
func relativeTo(dir, p string) (string, bool) {
	if dir == "." {
		return p, true
	}
	rest, ok := strings.CutPrefix(p, dir+"/")
	return rest, ok
}

// publishTarget is the repository and tags to publish: the arguments, else the config.
func publishTarget(cfg *config.Config, repository string, tags []string) (string, []string, error) {
	c := *cfg
	if repository != "" {
		c.Push.Repository = repository
	}
	if len(tags) > 0 {
		c.Push.Tags = tags
	}
	if c.Push.Repository == "" {
		return "", nil, fmt.Errorf("publish: no repository: pass --repository or set push.repository in %s", config.FileName)
	}
	if err := c.ValidatePush(); err != nil {
		return "", nil, err
	}
	if len(c.Push.Tags) == 0 {
		c.Push.Tags = []string{"latest"}
	}
	return c.Push.Repository, c.Push.Tags, nil
}
