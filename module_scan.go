package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/scan"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Paths inside the trivy container (alpine, has a shell and tar, runs as root); the image is at
// imageMountTar or imageMountDir.
const (
	scanOutDir   = "/tollgate/out"
	scanCacheDir = "/tollgate/trivy-cache"
	scanWorkDir  = "/tollgate/work" // empty: trivy must not pick up a stray .trivyignore
)

// Scan scans an image for known vulnerabilities with the pinned trivy in its official image, and
// gates the findings (default: fail on HIGH or CRITICAL). Trivy scans the image itself, not an
// SBOM, so OS packages whose name differs from their source package are matched. VEX
// not_affected/fixed statements and .trivyignore entries suppress findings visibly. Pass a
// container, a registry reference (pinned by digest before the scan), or name the image in
// tollgate.yaml (scan.image).
//
// +cache="session"
func (m *Tollgate) Scan(
	ctx context.Context,
	// Image to scan, e.g. the output of a build.
	// +optional
	image *dagger.Container,
	// Registry reference to scan instead of a container (e.g. registry.example.com/app:1.2).
	// The tool resolves it in its own container: use an address containers reach, not 127.0.0.1.
	// +optional
	imageRef string,
	// Registry username for imageRef.
	// +optional
	registryUsername string,
	// Registry password or token for imageRef (passed to trivy as a secret environment variable).
	// +optional
	registryPassword *dagger.Secret,
	// OCI repository mirroring trivy's vulnerability DB (instead of the default download).
	// +optional
	dbRepository string,
	// Offline vulnerability DB: a trivy cache directory holding db/trivy.db and db/metadata.json.
	// The scan never downloads; a missing or stale DB fails the stage.
	// +optional
	offlineDb *dagger.Directory,
	// OpenVEX documents; not_affected and fixed statements suppress matching findings.
	// +optional
	vex []*dagger.File,
	// Ignore file (.trivyignore or .trivyignore.yaml); default from tollgate.yaml or the source root.
	// +optional
	trivyignore *dagger.File,
	// Drop vulnerabilities that have no fixed version yet.
	// +optional
	ignoreUnfixed bool,
	// Severities to report (CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN); default from tollgate.yaml, else all.
	// +optional
	severities []string,
) (*StageReport, error) {
	start := time.Now()
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	img, err := m.resolveImage(ctx, scan.Name, imageArgs{ctr: image, ref: imageRef, user: registryUsername, password: registryPassword},
		strings.TrimSpace(cfg.Scan.Image))
	r, _, err := m.scanStage(ctx, cfg, img, err, scanInputs{dbRepository: dbRepository, offlineDB: offlineDb, vex: vex,
		trivyignore: trivyignore, ignoreUnfixed: ignoreUnfixed, severities: severities}, start)
	return r, err
}

// scanStage runs the stage on a resolved image (or reports why there is none: imgErr) and gates
// it. It also returns trivy's JSON report when the scan ran, for a vulnerability attestation.
func (m *Tollgate) scanStage(ctx context.Context, cfg *config.Config, img *imageInput, imgErr error, in scanInputs, start time.Time) (*StageReport, []byte, error) {
	var res *model.StageResult
	var report []byte
	err := imgErr
	if err == nil {
		res, report, err = m.scan(ctx, cfg, img, in)
	}
	if err != nil {
		report = nil
	}
	r, err := gateStage(cfg, scan.Name, scan.Tool(), res, err, start)
	return r, report, err
}

// scanInputs are the scan's own arguments (the image comes resolved).
type scanInputs struct {
	dbRepository  string
	offlineDB     *dagger.Directory
	vex           []*dagger.File
	trivyignore   *dagger.File
	ignoreUnfixed bool
	severities    []string
}

func (m *Tollgate) scan(ctx context.Context, cfg *config.Config, img *imageInput, in scanInputs) (*model.StageResult, []byte, error) {
	if err := scanOverrides(cfg, in); err != nil {
		return nil, nil, err
	}
	opts, err := scan.OptionsFrom(cfg, "")
	if err != nil {
		return nil, nil, err
	}
	opts.CacheDir = scanCacheDir
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	sup, err := m.scanSuppressions(ctx, cfg, in)
	if err != nil {
		return nil, nil, err
	}

	ctr := toolImage("trivy").
		WithDirectory(scanOutDir, dag.Directory()).
		WithDirectory(scanWorkDir, dag.Directory()).
		WithWorkdir(scanWorkDir)

	db := in.offlineDB
	if db == nil && cfg.Scan.DB.Offline {
		if cfg.Scan.DB.CacheDir == "" || path.IsAbs(cfg.Scan.DB.CacheDir) {
			return nil, nil, &model.InputError{File: cfg.Path, Err: errors.New("scan.db.offline in Dagger needs the offlineDb argument or a scan.db.cache-dir inside the source directory")}
		}
		db = m.Source.Directory(cfg.Scan.DB.CacheDir)
	}
	if db != nil {
		opts.Offline = true
		if err := checkOfflineDB(ctx, db, opts); err != nil {
			return nil, nil, err
		}
		ctr = ctr.WithDirectory(scanCacheDir, db)
	} else {
		// Locked: trivy holds its cache DBs with file locks and gives up after 5s, so parallel
		// scans on one engine take turns instead of failing.
		ctr = ctr.WithMountedCache(scanCacheDir, dag.CacheVolume("tollgate-trivy-cache"),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
	}

	imageArgs, ctr, err := scanImage(ctx, img, ctr)
	if err != nil {
		return nil, nil, err
	}
	if !opts.Offline {
		// The engine caches an exec by its inputs, and the DB trivy downloads into the cache
		// volume is not one of them: without this, a later scan would replay an old report and
		// miss CVEs published since. (The image is: a reference is pinned by digest.)
		ctr = ctr.WithEnvVariable("TOLLGATE_SCAN_AT", now().UTC().Format(time.RFC3339Nano))
	}
	out := scanOutDir + "/" + scan.ReportFile
	run, err := runTool(ctx, "trivy", ctr, toolArgv("trivy", scan.ImageArgs(opts, imageArgs, out)), imagePaths(img))
	if err != nil {
		return nil, nil, err
	}
	if run.code != 0 {
		return nil, nil, scan.ExitError(run.code, run.stderr, img.name)
	}
	_, raw, err := run.file(ctx, out)
	if err != nil {
		return nil, nil, err
	}
	report, err := scan.ParseReport(raw)
	if err != nil {
		return nil, nil, err
	}
	// Trivy names the image by where it read it; findings name it as the user knows it.
	report.ArtifactName = hideImagePaths(report.ArtifactName, img)
	for i := range report.Results {
		report.Results[i].Target = hideImagePaths(report.Results[i].Target, img)
	}
	subject := scan.Subject{Names: []string{img.name, img.ref, report.ArtifactName}, Digest: img.digest}
	subject.Names = append(subject.Names, report.Metadata.RepoDigests...)
	res := &model.StageResult{Stage: scan.Name, Tool: scan.Tool(), Findings: report.Findings()}
	sup.Apply(res.Findings, subject)
	// The report as attested names the image as the user knows it, not by its mount point.
	return res, []byte(hideImagePaths(string(raw), img)), nil
}

// scanOverrides applies the function's arguments over tollgate.yaml.
func scanOverrides(cfg *config.Config, in scanInputs) error {
	if in.dbRepository != "" {
		cfg.Scan.DB.Repository = in.dbRepository
	}
	if in.ignoreUnfixed {
		cfg.Scan.IgnoreUnfixed = true
	}
	if len(in.severities) > 0 {
		cfg.Scan.Severities = nil
		for _, s := range in.severities {
			v, err := model.ParseSeverity(s)
			if err != nil {
				return &model.InputError{Err: fmt.Errorf("scan: severities: %w", err)}
			}
			cfg.Scan.Severities = append(cfg.Scan.Severities, v)
		}
	}
	return nil
}

// scanImage mounts the image (or hands trivy the registry credentials) and returns trivy's image
// arguments. A container or image file is a tarball; `trivy image --input` cannot read an OCI
// layout tarball, so tarballs are unpacked into a layout directory first (the trivy image has tar).
func scanImage(ctx context.Context, img *imageInput, ctr *dagger.Container) ([]string, *dagger.Container, error) {
	switch {
	case img.dir != nil:
		return []string{"--input", imageMountDir}, ctr.WithDirectory(imageMountDir, img.dir), nil
	case img.tarball() != nil:
		return unpackImage(ctx, ctr, img)
	}
	if img.password != nil {
		ctr = ctr.WithEnvVariable("TRIVY_USERNAME", img.user).WithSecretVariable("TRIVY_PASSWORD", img.password)
	}
	return []string{img.ref}, ctr, nil
}

func unpackImage(ctx context.Context, ctr *dagger.Container, img *imageInput) ([]string, *dagger.Container, error) {
	ctr = ctr.WithMountedFile(imageMountTar, img.tarball()).WithDirectory(imageMountDir, dag.Directory())
	run, err := runTool(ctx, "trivy", ctr, []string{"tar", "-xf", imageMountTar, "-C", imageMountDir}, imagePaths(img))
	if err != nil {
		return nil, nil, err
	}
	if run.code != 0 {
		return nil, nil, &model.InputError{File: img.name, Err: fmt.Errorf("not a readable image tarball: %s", tools.LastLines(run.stderr, 3))}
	}
	return []string{"--input", imageMountDir}, run.ctr, nil
}

// checkOfflineDB applies the same DB check as the native runner to a Dagger directory.
func checkOfflineDB(ctx context.Context, db *dagger.Directory, opts scan.Options) error {
	if ok, _ := db.Exists(ctx, "db/trivy.db"); !ok {
		return scan.DBUnavailable("offline DB missing: offlineDb has no db/trivy.db; pass a trivy cache directory holding db/trivy.db and db/metadata.json")
	}
	b, err := db.File("db/metadata.json").Contents(ctx)
	if err != nil {
		return &model.ToolError{Tool: "trivy-db", Err: fmt.Errorf("%w: offlineDb has no readable db/metadata.json: %v", scan.ErrDBUnavailable, err)}
	}
	_, err = scan.CheckDBMetadata("offlineDb/db/metadata.json", []byte(b), opts.MaxDBAge, now())
	return err
}

// scanSuppressions reads VEX and ignore files from the arguments, else from tollgate.yaml paths
// in the source directory, and parses them with the native runner's parsers.
func (m *Tollgate) scanSuppressions(ctx context.Context, cfg *config.Config, in scanInputs) (scan.Suppressions, error) {
	var sup scan.Suppressions
	read := func(f *dagger.File, fallback string) (string, []byte, error) {
		name := fallback
		if n, err := f.Name(ctx); err == nil && n != "" {
			name = n
		}
		b, err := f.Contents(ctx)
		if err != nil {
			return name, nil, &model.InputError{File: name, Err: err}
		}
		return name, []byte(b), nil
	}
	vexFiles := in.vex
	if len(vexFiles) == 0 {
		for _, p := range cfg.Scan.VEX {
			vexFiles = append(vexFiles, m.Source.File(p))
		}
	}
	for i, f := range vexFiles {
		name, b, err := read(f, fmt.Sprintf("vex[%d]", i))
		if err != nil {
			return sup, err
		}
		d, err := scan.ParseVEX(name, b)
		if err != nil {
			return sup, err
		}
		sup.VEX = append(sup.VEX, d)
	}
	ignore := in.trivyignore
	if ignore == nil {
		candidates := []string{cfg.Scan.TrivyIgnore}
		if cfg.Scan.TrivyIgnore == "" {
			candidates = []string{".trivyignore", ".trivyignore.yaml"}
		}
		for _, p := range candidates {
			if ok, _ := m.Source.Exists(ctx, p); ok {
				ignore = m.Source.File(p)
				break
			} else if cfg.Scan.TrivyIgnore != "" {
				return sup, &model.InputError{File: p, Err: errors.New("ignore file not found in the source directory")}
			}
		}
	}
	if ignore != nil {
		name, b, err := read(ignore, ".trivyignore")
		if err != nil {
			return sup, err
		}
		rules, err := scan.ParseTrivyIgnore(name, b)
		if err != nil {
			return sup, err
		}
		sup.Ignores = rules
	}
	return sup, nil
}
