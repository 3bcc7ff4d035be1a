package build

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Buildx builds the plan with `docker buildx build` on the running Docker daemon (build.builder:
// buildx), exporting the same OCI archive the private BuildKit writes. No Docker CLI or no
// daemon answering is a *model.InputError saying what to do instead.
func Buildx(ctx context.Context, p *Plan, archive string, progress func(string)) (*Result, error) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		return nil, &model.InputError{Err: fmt.Errorf("build.builder is buildx but there is no docker command on PATH: install Docker with the buildx plugin, or use build.builder: buildkit (Tollgate's private BuildKit, needs root and runc)")}
	}
	env := buildxEnv(p)
	info, err := tools.Run(ctx, "docker", tools.Cmd{Path: docker, Args: []string{"info", "--format", "{{.ServerVersion}}"}, Env: env, Timeout: 30 * time.Second})
	if err != nil || info.ExitCode != 0 || strings.TrimSpace(string(info.Stdout)) == "" {
		detail := ""
		if info != nil {
			detail = tools.LastLines(info.Stderr, 2)
		}
		return nil, &model.InputError{Err: fmt.Errorf("build.builder is buildx but no Docker daemon answers (%s): start Docker, or use build.builder: buildkit (Tollgate's private BuildKit, needs root and runc)", strings.TrimSpace(detail))}
	}
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		return nil, toolErr(err)
	}
	tmp := archive + ".partial"
	defer os.Remove(tmp)
	res, err := tools.Run(ctx, "docker-buildx", tools.Cmd{Path: docker, Args: BuildxArgs(p, tmp), Dir: p.Root, Env: env, Timeout: p.Timeout})
	if err != nil {
		return nil, err
	}
	out := string(res.Stderr) + string(res.Stdout)
	if res.ExitCode != 0 {
		line := 0
		if m := dockerfileLineRe.FindStringSubmatch(out); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		tr := newTracker(nil, secretValues(p))
		return nil, &model.InputError{File: p.DockerfileRel, Line: line, Err: fmt.Errorf("docker buildx build exited %d:\n    %s",
			res.ExitCode, strings.ReplaceAll(tr.scrub(tools.LastLines([]byte(out), logTailLines)), "\n", "\n    "))}
	}
	dg, err := ArchiveDigest(tmp)
	if err != nil {
		return nil, toolErr(fmt.Errorf("docker buildx wrote no usable OCI archive: %w", err))
	}
	if err := os.Rename(tmp, archive); err != nil {
		return nil, toolErr(err)
	}
	progress("docker buildx build finished")
	return &Result{Archive: archive, Digest: dg, Platforms: p.Platforms}, nil
}

var dockerfileLineRe = regexp.MustCompile(`(?m)Dockerfile:(\d+)\s*$`)

// buildxEnv is what the docker CLI needs (daemon address, config) plus the variables the build
// secrets are read from: docker reads them itself, so values never travel as arguments.
func buildxEnv(p *Plan) []string {
	var env []string
	for _, k := range []string{"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "BUILDX_BUILDER"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, s := range p.Secrets {
		if v, ok := os.LookupEnv(s.Env); ok && s.Env != "" {
			env = append(env, s.Env+"="+v)
		}
	}
	if p.SourceDateEpoch != "" {
		env = append(env, EnvSourceDateEpoch+"="+p.SourceDateEpoch)
	}
	return env
}
