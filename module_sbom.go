package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/sbom"
)

// Where syft writes the SBOMs in its container (scratch image, no shell, runs as root).
const sbomOutDir = "/tollgate/sbom"

// SbomResult is the SBOM stage's outcome: the SBOM files and the gated stage report.
type SbomResult struct {
	// The SPDX file, nil unless the stage wrote one.
	// +private
	SpdxFile *dagger.File
	// The CycloneDX file, nil unless the stage wrote one.
	// +private
	CyclonedxFile *dagger.File
	// Every SBOM written, nil unless the stage wrote one.
	// +private
	Dir *dagger.Directory
	// The formats asked for (spdx-json, cyclonedx-json).
	// +private
	Formats []string
	// The gated result of the stage.
	Report *StageReport
}

// Spdx returns the SPDX 2.3 JSON SBOM. It fails (so `spdx export` never succeeds without a
// file) when the stage did not write one: syft failed, there was no image, or spdx-json was not
// among the formats.
func (r *SbomResult) Spdx() (*dagger.File, error) {
	return r.file(r.SpdxFile, "spdx-json")
}

// Cyclonedx returns the CycloneDX 1.6 JSON SBOM. It fails when the stage did not write one (see
// spdx).
func (r *SbomResult) Cyclonedx() (*dagger.File, error) {
	return r.file(r.CyclonedxFile, "cyclonedx-json")
}

// Files returns a directory holding every SBOM written (sbom.spdx.json, sbom.cdx.json). It fails
// when the stage wrote none.
func (r *SbomResult) Files() (*dagger.Directory, error) {
	if r.Dir == nil {
		return nil, r.missing("")
	}
	return r.Dir, nil
}

func (r *SbomResult) file(f *dagger.File, format string) (*dagger.File, error) {
	if f == nil {
		return nil, r.missing(format)
	}
	return f, nil
}

// missing explains why there is no SBOM: the stage did not pass its run, or the format was not
// asked for.
func (r *SbomResult) missing(format string) error {
	if r.Report == nil || r.Report.Status == string(model.StatusError) || r.Report.Status == string(model.StatusSkipped) {
		why := "the sbom stage did not run"
		if r.Report != nil {
			why = r.Report.verdict()
		}
		return fmt.Errorf("no SBOM: %s", why)
	}
	return fmt.Errorf("no %s SBOM: the formats were %s (pass --formats=%s)", format, strings.Join(r.Formats, ", "), format)
}

// Sbom describes an image with the pinned syft in its official image and returns SPDX 2.3 and
// CycloneDX 1.6 JSON SBOMs (as configured in tollgate.yaml sbom.formats), the artifacts to store
// and attest. Pass a container, or a registry reference (with credentials for a private
// registry), or name the image in tollgate.yaml (sbom.image, else scan.image). The SBOM's subject
// is the image's digest: a reference is pinned by digest first.
//
// +cache="session"
func (m *Tollgate) Sbom(
	ctx context.Context,
	// Image to describe, e.g. the output of a build.
	// +optional
	image *dagger.Container,
	// Registry reference to describe instead of a container (e.g. registry.example.com/app:1.2).
	// The tool resolves it in its own container: use an address containers reach, not 127.0.0.1.
	// +optional
	imageRef string,
	// Registry username for imageRef.
	// +optional
	registryUsername string,
	// Registry password or token for imageRef.
	// +optional
	registryPassword *dagger.Secret,
	// SBOM formats, overriding tollgate.yaml: spdx-json, cyclonedx-json.
	// +optional
	formats []string,
) (*SbomResult, error) {
	start := time.Now()
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	img, err := m.resolveImage(ctx, sbom.Name, imageArgs{ctr: image, ref: imageRef, user: registryUsername, password: registryPassword},
		sbomConfigImage(cfg.SBOM.Image, cfg.Scan.Image))
	return m.sbomStage(ctx, cfg, img, err, formats, start)
}

// sbomStage runs the stage on a resolved image (or reports why there is none: imgErr) and gates it.
func (m *Tollgate) sbomStage(ctx context.Context, cfg *config.Config, img *imageInput, imgErr error, formats []string, start time.Time) (*SbomResult, error) {
	if len(formats) == 0 {
		formats = cfg.SBOM.Formats
	}
	out := &SbomResult{Formats: formats}
	var res *model.StageResult
	err := imgErr
	if err == nil {
		res, err = m.sbom(ctx, out, img, formats)
	}
	if err != nil {
		// No artifact from a failed run: nothing half-made to store or attest.
		out.SpdxFile, out.CyclonedxFile, out.Dir = nil, nil, nil
	}
	if out.Report, err = gateStage(cfg, sbom.Name, sbom.Tool(), res, err, start); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Tollgate) sbom(ctx context.Context, out *SbomResult, img *imageInput, formatNames []string) (*model.StageResult, error) {
	fs, err := sbom.FormatsFor(formatNames)
	if err != nil {
		return nil, &model.InputError{Err: err}
	}
	ctr := toolImage("syft").WithDirectory(sbomOutDir, dag.Directory())
	for _, kv := range sbom.Env() {
		k, v, _ := strings.Cut(kv, "=")
		ctr = ctr.WithEnvVariable(k, v)
	}
	var source string
	switch {
	case img.ctr != nil:
		// AsTarball writes an OCI image layout tarball, which syft reads as oci-archive.
		ctr, source = ctr.WithMountedFile(imageMountTar, img.tarball()), "oci-archive:"+imageMountTar
	case img.file != nil:
		// No scheme: syft tells a docker archive from an OCI archive itself.
		ctr, source = ctr.WithMountedFile(imageMountTar, img.file), imageMountTar
	case img.dir != nil:
		ctr, source = ctr.WithMountedDirectory(imageMountDir, img.dir), "oci-dir:"+imageMountDir
	default:
		// Pinned by digest: the exec's inputs name the image exactly, so a cached run is right.
		source = "registry:" + img.ref
		if img.password != nil {
			ctr = ctr.WithEnvVariable("SYFT_REGISTRY_AUTH_AUTHORITY", img.registry).
				WithEnvVariable("SYFT_REGISTRY_AUTH_USERNAME", img.user).
				WithSecretVariable("SYFT_REGISTRY_AUTH_PASSWORD", img.password)
		}
	}
	run, err := runTool(ctx, "syft", ctr, toolArgv("syft", sbom.Args(source, fs, sbomOutDir, img.name)), imagePaths(img))
	if err != nil {
		return nil, err
	}
	if run.code != 0 {
		return nil, sbom.ExitError(run.code, run.stderr, img.name)
	}
	outputs := map[string][]byte{}
	for _, f := range fs {
		file, b, err := run.file(ctx, sbomOutDir+"/"+f.File)
		if err != nil {
			return nil, err
		}
		outputs[f.Name] = b
		switch f.Name {
		case "spdx-json":
			out.SpdxFile = file
		case "cyclonedx-json":
			out.CyclonedxFile = file
		}
	}
	res, err := sbom.Result(img.name, fs, outputs)
	if err != nil {
		return nil, err
	}
	out.Dir = run.ctr.Directory(sbomOutDir)
	return res, nil
}

// hideImagePaths names the image mount points in a message as the user knows the image.
func hideImagePaths(msg string, img *imageInput) string {
	return hidePaths(msg, imagePaths(img))
}

// imagePaths maps the image mount points to the image's name.
func imagePaths(img *imageInput) map[string]string {
	return map[string]string{imageMountTar: img.name, imageMountDir: img.name}
}

// sbomConfigImage is the image tollgate.yaml names for the SBOM: sbom.image, else scan.image.
func sbomConfigImage(sbomImage, scanImage string) string {
	if s := strings.TrimSpace(sbomImage); s != "" {
		return s
	}
	return strings.TrimSpace(scanImage)
}
