package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/stage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// HelmTemplateArgs are helm's arguments to render the chart at chartDir (as helm sees it) the
// way `helm template` shows it, for a cluster of kubeVersion (e.g. 1.36.0), CRDs included so
// custom resources are validated against them. Both runners use them.
func HelmTemplateArgs(chartDir, kubeVersion string) []string {
	args := []string{"template", chartDir, "--include-crds"}
	if v := strings.TrimPrefix(kubeVersion, "v"); v != "" {
		args = append(args, "--kube-version", "v"+v)
	}
	return args
}

// HelmEnv keeps helm away from the user's helm config, repositories and plugins: a render
// depends on the chart alone.
func HelmEnv(home string) []string {
	return []string{
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
	}
}

// HelmError is helm's own complaint about a chart (exit code not 0): bad input, unless the
// chart only lacks its dependencies.
type HelmError struct{ Stderr string }

func (e *HelmError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	for _, l := range strings.Split(msg, "\n") {
		if strings.HasPrefix(l, "Error: ") {
			return strings.TrimPrefix(l, "Error: ")
		}
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	return msg
}

// NativeHelm renders charts with the pinned helm binary that ensure returns (built on first
// use). A helm that cannot be had makes every chart a skip note, not a failed stage.
func NativeHelm(ensure func(context.Context) (string, error), kubeVersion string) HelmRenderer {
	var once sync.Once
	var bin string
	var ensureErr error
	return func(ctx context.Context, chartDir string) ([]byte, error) {
		once.Do(func() { bin, ensureErr = ensure(ctx) })
		if ensureErr != nil {
			return nil, &UnavailableError{Err: ensureErr}
		}
		home, err := os.MkdirTemp("", "tollgate-helm-*")
		if err != nil {
			return nil, &model.ToolError{Tool: "helm", Err: err}
		}
		defer os.RemoveAll(home)
		res, err := tools.Run(ctx, "helm", tools.Cmd{Path: bin, Args: HelmTemplateArgs(chartDir, kubeVersion), Dir: home,
			Env: HelmEnv(home), Timeout: 2 * time.Minute})
		if err != nil {
			return nil, err
		}
		if res.ExitCode != 0 {
			return nil, &HelmError{Stderr: string(res.Stderr)}
		}
		return res.Stdout, nil
	}
}

// helmKey is the Env.Shared key of the run's chart renders, so validate and score render
// each chart once.
const helmKey = "manifest.helm"

type helmCache struct {
	render  HelmRenderer
	mu      sync.Mutex
	renders map[string]*helmRender
}

type helmRender struct {
	once sync.Once
	out  []byte
	err  error
}

// EnvHelm is the native runner's chart renderer for a stage: the pinned helm from env's tool
// installer, each chart rendered once per run however many stages read it.
func EnvHelm(env *stage.Env, kubeVersion string) HelmRenderer {
	c := &helmCache{renders: map[string]*helmRender{}}
	c.render = NativeHelm(func(ctx context.Context) (string, error) {
		if env.Tools == nil {
			return "", errors.New("no tool installer")
		}
		return env.Tools.Ensure(ctx, "helm")
	}, kubeVersion)
	if env.Shared != nil {
		v, _ := env.Shared.LoadOrStore(helmKey, c)
		c = v.(*helmCache)
	}
	return func(ctx context.Context, chartDir string) ([]byte, error) {
		c.mu.Lock()
		r, ok := c.renders[chartDir]
		if !ok {
			r = &helmRender{}
			c.renders[chartDir] = r
		}
		c.mu.Unlock()
		r.once.Do(func() { r.out, r.err = c.render(ctx, chartDir) })
		return r.out, r.err
	}
}

var helmTemplateErrRe = regexp.MustCompile(`template: ([^:\s]+):(\d+):`)

// loadChart renders a Helm chart and maps each object to the template it came from (helm's
// `# Source:` comments). A chart helm cannot render for want of helm itself or of the chart's
// dependencies is skipped with a note; any other helm error is bad input at the template line
// helm names.
func (l *Loader) loadChart(ctx context.Context, u unit) ([]Document, []Skip, error) {
	chartFile := joinName(u.name, "Chart.yaml")
	if l.Helm == nil {
		return nil, []Skip{{File: chartFile, Line: 1, Reason: "a Helm chart: not rendered here (no helm)"}}, nil
	}
	out, err := l.Helm(ctx, u.abs)
	if err != nil {
		var ua *UnavailableError
		var he *HelmError
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case errors.As(err, &ua):
			return nil, []Skip{{File: chartFile, Line: 1, Reason: fmt.Sprintf("a Helm chart, not rendered: helm cannot run here (%v)", ua.Err)}}, nil
		case errors.As(err, &he):
			msg := he.Error()
			if strings.Contains(msg, "missing in charts/ directory") || strings.Contains(msg, "dependencies") {
				return nil, []Skip{{File: chartFile, Line: 1, Reason: fmt.Sprintf("a Helm chart, not rendered: %s (run `helm dependency build %s` first)", msg, u.name)}}, nil
			}
			file, line := chartFile, 1
			if m := helmTemplateErrRe.FindStringSubmatch(msg); m != nil {
				if _, inChart, ok := strings.Cut(m[1], "/"); ok {
					if _, err := os.Stat(filepath.Join(u.abs, inChart)); err == nil {
						file = joinName(u.name, inChart)
						line, _ = strconv.Atoi(m[2])
					}
				}
			}
			return nil, nil, &model.InputError{File: file, Line: line, Err: fmt.Errorf("helm template: %s", msg)}
		}
		return nil, nil, err
	}
	docs, skips, err := parseYAMLStream(u.name, out, 1, false, l.Shallow)
	if err != nil {
		return nil, nil, relocate(err, chartFile, "rendered by helm template: ")
	}
	seen := map[string]int{}
	for i := range docs {
		docs[i].Unit = u.name
		docs[i].File, docs[i].Line = chartFile, 1
		src := helmSource(docs[i].Raw)
		if _, inChart, ok := strings.Cut(src, "/"); ok {
			abs := filepath.Join(u.abs, filepath.FromSlash(inChart))
			if _, err := os.Stat(abs); err == nil {
				docs[i].File = joinName(u.name, inChart)
				docs[i].Line = kindLine(abs, docs[i].Kind, seen[inChart+"\x00"+docs[i].Kind])
				seen[inChart+"\x00"+docs[i].Kind]++
			}
		}
	}
	for i := range skips {
		skips[i].File, skips[i].Line = chartFile, 1
	}
	return docs, skips, nil
}

// helmSource reads the `# Source: chart/templates/x.yaml` comment helm puts above each object.
func helmSource(raw []byte) string {
	for _, line := range bytes.Split(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if s, ok := bytes.CutPrefix(t, []byte("# Source: ")); ok {
			return string(bytes.TrimSpace(s))
		}
		if len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			break
		}
	}
	return ""
}

// kindLine is the line of the n-th `kind: <kind>` in a template (1 when there is none).
func kindLine(abs, kind string, n int) int {
	b, err := os.ReadFile(abs)
	if err != nil {
		return 1
	}
	first := 0
	for i, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "kind:"); ok && strings.Trim(strings.TrimSpace(v), `"'`) == kind {
			if first == 0 {
				first = i + 1
			}
			if n == 0 {
				return i + 1
			}
			n--
		}
	}
	return max(first, 1)
}
