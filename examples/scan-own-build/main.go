// Myapp is an example of a Dagger module that imports Tollgate: it builds its own container and
// gates it with Tollgate's scan before anything ships. Installed in a module of your own with
//
//	dagger install github.com/tollgate-dev/tollgate@<version>
//
// (this example points at the repository it lives in: "source": "../.." in dagger.json).
package main

import (
	"context"

	"dagger/myapp/internal/dagger"
)

// Myapp builds the app's container.
type Myapp struct {
	// The app's source, with its tollgate.yaml (ignores, thresholds).
	// +private
	Source *dagger.Directory
}

// New creates the app module.
func New(
	// The app's source directory.
	// +defaultPath="."
	source *dagger.Directory,
) *Myapp {
	return &Myapp{Source: source}
}

// Build builds the app's container on the given base image.
func (m *Myapp) Build(
	// Base image of the app.
	// +default="alpine:3.20"
	base string,
) *dagger.Container {
	return dag.Container().From(base).
		WithNewFile("/srv/index.html", "hello from myapp\n").
		WithWorkdir("/srv").
		WithEntrypoint([]string{"httpd", "-f", "-p", "8080"})
}

// Gate builds the app's container and scans it with Tollgate; it fails, as the check of a
// release pipeline should, unless the scan's gate passes. It returns the scan's Markdown summary.
func (m *Myapp) Gate(
	ctx context.Context,
	// Base image of the app.
	// +default="alpine:3.20"
	base string,
	// Offline vulnerability DB (a trivy cache dir with db/trivy.db); default: trivy's download.
	// +optional
	offlineDb *dagger.Directory,
) (string, error) {
	report := dag.Tollgate(dagger.TollgateOpts{Source: m.Source}).
		Scan(dagger.TollgateScanOpts{Image: m.Build(base), OfflineDb: offlineDb})
	// Check fails the call with the stage's verdict, e.g. "scan fail (exit 1): ...: CVE-...".
	if err := report.Check(ctx); err != nil {
		return "", err
	}
	return report.Report(dagger.TollgateStageReportReportOpts{Format: "markdown"}).Contents(ctx)
}
