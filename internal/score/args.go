package score

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Options is what the score stage needs from tollgate.yaml.
type Options struct {
	// Critical and Warning are the severities of kube-score's two failing grades.
	Critical, Warning model.Severity
	// Checks overrides the severity of single checks (any failing grade) by ID.
	Checks map[string]model.Severity
	// IgnoreChecks are passed to kube-score as --ignore-test: the check does not run.
	IgnoreChecks []string
	// EnableChecks are optional checks to run on top of DefaultOptionalChecks.
	EnableChecks []string
	// KubernetesVersion is the cluster version (e.g. 1.36.0); kube-score wants vMAJOR.MINOR.
	KubernetesVersion string
	// ConfigFile names tollgate.yaml in errors about these options.
	ConfigFile string
}

// OptionsFrom reads the score options from the config.
func OptionsFrom(c *config.Config) Options {
	return Options{
		Critical:          c.Score.Critical,
		Warning:           c.Score.Warning,
		Checks:            c.Score.Checks,
		IgnoreChecks:      c.Score.IgnoreChecks,
		EnableChecks:      c.Score.EnableChecks,
		KubernetesVersion: c.Validate.KubernetesVersion,
		ConfigFile:        c.Path,
	}
}

// Check verifies the options before kube-score runs, so a typo in a check ID is a clear
// input error rather than a silently ignored setting.
func (o Options) Check() error {
	var bad []string
	for id := range o.Checks {
		if _, ok := lookupCheck(id); !ok {
			bad = append(bad, "score.checks: "+strconv.Quote(id))
		}
	}
	for _, id := range o.IgnoreChecks {
		if _, ok := lookupCheck(id); !ok {
			bad = append(bad, "score.ignore-checks: "+strconv.Quote(id))
		}
	}
	for _, id := range o.EnableChecks {
		c, ok := lookupCheck(id)
		switch {
		case !ok:
			bad = append(bad, "score.enable-checks: "+strconv.Quote(id))
		case !c.Optional:
			return &model.InputError{File: o.ConfigFile, Err: fmt.Errorf("score.enable-checks: %q is on by default; only optional checks need enabling", id)}
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return &model.InputError{File: o.ConfigFile, Err: fmt.Errorf("unknown kube-score check(s): %s (run `kube-score list` for the IDs)", strings.Join(bad, ", "))}
	}
	if _, err := kubeVersion(o.KubernetesVersion); err != nil {
		return &model.InputError{File: o.ConfigFile, Err: fmt.Errorf("validate.kubernetes-version: %w", err)}
	}
	return nil
}

// EnabledOptional is the sorted list of optional checks that run: Tollgate's defaults plus
// EnableChecks, minus IgnoreChecks.
func (o Options) EnabledOptional() []string {
	ids := append(DefaultOptionalChecks(), o.EnableChecks...)
	sort.Strings(ids)
	ids = slices.Compact(ids)
	return slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(o.IgnoreChecks, id) })
}

// Args builds kube-score's arguments for the given manifest files. Both runners use it: the native
// one with temp-file paths, the Dagger one with paths inside the kube-score container.
func Args(o Options, files []string) ([]string, error) {
	kv, err := kubeVersion(o.KubernetesVersion)
	if err != nil {
		return nil, err
	}
	args := []string{"score", "--output-format", "json", "--output-version", "v2", "--color", "never",
		"--kubernetes-version", kv}
	for _, id := range o.EnabledOptional() {
		args = append(args, "--enable-optional-test", id)
	}
	ignore := slices.Clone(o.IgnoreChecks)
	sort.Strings(ignore)
	for _, id := range slices.Compact(ignore) {
		args = append(args, "--ignore-test", id)
	}
	// A file name starting with "-" would read as a flag; callers pass generated names, but be safe.
	for _, f := range files {
		if strings.HasPrefix(f, "-") {
			return nil, fmt.Errorf("kube-score input %q looks like a flag", f)
		}
	}
	return append(args, files...), nil
}

// kubeVersion turns "1.36.0", "v1.36" or "1.36" into kube-score's "v1.36"; empty means kube-score's default.
func kubeVersion(v string) (string, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if v == "" {
		return "v1.36", nil
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return "", fmt.Errorf("want a Kubernetes version like 1.36.0, got %q", v)
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return "", errors.New("want a Kubernetes version like 1.36.0, got " + strconv.Quote(v))
		}
	}
	return "v" + parts[0] + "." + parts[1], nil
}
