package scan

import (
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Options are the trivy settings both runners share.
type Options struct {
	// CacheDir is trivy's cache dir (DB under db/, layer cache under fanal/); "" is trivy's default.
	CacheDir string
	// Offline uses the DB already in CacheDir and never touches the network for it.
	Offline bool
	// DBRepository is an OCI repository mirroring trivy's DB (ignored when Offline).
	DBRepository string
	// Severities reported at all; empty reports every severity.
	Severities []model.Severity
	// IgnoreUnfixed drops findings that have no fixed version.
	IgnoreUnfixed bool
	// Timeout bounds the whole scan; it is also passed to trivy, whose own default (5m) would
	// otherwise cut a long scan shorter than configured.
	Timeout time.Duration
	// MaxDBAge is how old an offline DB may be before the scan refuses it.
	MaxDBAge time.Duration
}

// ImageArgs are the arguments of `trivy image` for both runners: imageArgs point at the image
// (image.Source.TrivyArgs) and the JSON report goes to outFile. The gate is Tollgate's, so trivy
// always exits 0 on success; any other exit is a tool failure.
func ImageArgs(opts Options, imageArgs []string, outFile string) []string {
	args := []string{"image",
		"--skip-version-check", "--disable-telemetry", "--quiet",
		"--format", "json", "--output", outFile,
		"--exit-code", "0",
		"--scanners", "vuln",
	}
	if opts.CacheDir != "" {
		args = append(args, "--cache-dir", opts.CacheDir)
	}
	if opts.Offline {
		args = append(args, "--skip-db-update", "--skip-java-db-update", "--offline-scan")
	} else if opts.DBRepository != "" {
		args = append(args, "--db-repository", opts.DBRepository)
	}
	if sev := trivySeverities(opts.Severities); sev != "" {
		args = append(args, "--severity", sev)
	}
	if opts.IgnoreUnfixed {
		args = append(args, "--ignore-unfixed")
	}
	if opts.Timeout > 0 {
		args = append(args, "--timeout", opts.Timeout.String())
	}
	// A registry reference is pulled from the registry, never from a local Docker daemon that
	// may hold a different image under the same tag.
	if len(imageArgs) > 0 && imageArgs[0] != "--input" {
		args = append(args, "--image-src", "remote")
	}
	return append(args, imageArgs...)
}

// trivySeverities maps Tollgate severities to trivy's names. INFO has no trivy equivalent and
// is dropped; UNKNOWN is trivy's name for a CVE without a score.
func trivySeverities(sevs []model.Severity) string {
	var names []string
	seen := map[string]bool{}
	for _, s := range sevs {
		if s == model.SeverityInfo {
			continue
		}
		n := s.String()
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}
