package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/tollgate-dev/tollgate/internal/dagger"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/sbom"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Paths inside the syft container (scratch image, no shell, runs as root, WORKDIR /tmp).
const (
	sbomImagePath = "/tollgate/image.tar"
	sbomImageDir  = "/tollgate/image"
	sbomOutDir    = "/tollgate/sbom"
)

// SbomResult is the SBOM stage's outcome: the SBOM files and the gated stage report.
type SbomResult struct {
	// SPDX 2.3 JSON SBOM. Unset (selecting it is an error) when spdx-json was not requested or the
	// stage errored or was skipped; Files is always set.
	Spdx *dagger.File
	// CycloneDX 1.6 JSON SBOM. Unset (selecting it is an error) when cyclonedx-json was not
	// requested or the stage errored or was skipped; Files is always set.
	Cyclonedx *dagger.File
	// Directory holding every SBOM written (sbom.spdx.json, sbom.cdx.json).
	Files *dagger.Directory
	// The gated result of the stage.
	Report *StageReport
}

// Sbom describes an image with the pinned syft in its official image and returns SPDX 2.3 and
// CycloneDX 1.6 JSON SBOMs (as configured in tollgate.yaml sbom.formats), the artifacts to store
// and attest. Pass a container, or a registry reference (with credentials for a private registry).
//
// +cache="session"
func (m *Tollgate) Sbom(
	ctx context.Context,
	// Image to describe, e.g. the output of a build.
	// +optional
	image *dagger.Container,
	// Registry reference to describe instead of a container (e.g. registry.example.com/app:1.2).
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
	cfg, err := m.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if len(formats) == 0 {
		formats = cfg.SBOM.Formats
	}
	out := &SbomResult{Files: dag.Directory()}
	res, err := m.sbom(ctx, out, cfg, image, imageRef, registryUsername, registryPassword, formats)
	if err != nil {
		// No artifact from a failed run: nothing half-made to store or attest.
		out.Spdx, out.Cyclonedx, out.Files = nil, nil, dag.Directory()
		res = model.ErrorResult(sbom.Name, sbom.Tool(), err)
	}
	gate.Apply(res, cfg, now())
	if out.Report, err = newStageReport(res); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *Tollgate) sbom(ctx context.Context, out *SbomResult, cfg *config.Config, image *dagger.Container, imageRef, user string,
	password *dagger.Secret, formatNames []string) (*model.StageResult, error) {
	fs, err := sbom.FormatsFor(formatNames)
	if err != nil {
		return nil, &model.InputError{Err: err}
	}
	// sbom.image or scan.image from tollgate.yaml: a tarball or OCI layout dir in the source,
	// else a registry reference.
	var local *dagger.File
	var localDir *dagger.Directory
	configured := ""
	if image == nil && imageRef == "" {
		configured = sbomConfigImage(cfg.SBOM.Image, cfg.Scan.Image)
	}
	if configured != "" {
		if ok, _ := m.Source.Exists(ctx, configured, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType}); ok {
			local = m.Source.File(configured)
		} else if ok, _ := m.Source.Exists(ctx, configured, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeDirectoryType}); ok {
			localDir = m.Source.Directory(configured)
		} else {
			imageRef = configured
		}
	}
	source, subject, authority, err := sbomSource(image != nil, imageRef)
	switch {
	case local != nil:
		// No scheme: syft tells a docker archive from an OCI archive itself.
		source, subject, err = sbomImagePath, configured, nil
	case localDir != nil:
		source, subject, err = "oci-dir:"+sbomImageDir, configured, nil
	}
	if err != nil {
		return nil, err
	}
	if (user == "") != (password == nil) {
		return nil, &model.InputError{Err: errors.New("sbom: registryUsername and registryPassword go together")}
	}

	t := tools.MustGet("syft")
	ctr := dag.Container().From(t.Image).
		WithDirectory(sbomOutDir, dag.Directory())
	for _, kv := range sbom.Env() {
		k, v, _ := strings.Cut(kv, "=")
		ctr = ctr.WithEnvVariable(k, v)
	}
	switch {
	case image != nil:
		// AsTarball writes an OCI image layout tarball, which syft reads as oci-archive.
		ctr = ctr.WithMountedFile(sbomImagePath, image.AsTarball())
	case local != nil:
		ctr = ctr.WithMountedFile(sbomImagePath, local)
	case localDir != nil:
		ctr = ctr.WithMountedDirectory(sbomImageDir, localDir)
	default:
		// A registry tag can move, and the engine caches an exec by its inputs: describe the image
		// the tag names now, not the one it named when this exec last ran.
		ctr = ctr.WithEnvVariable("TOLLGATE_SBOM_AT", now().UTC().Format(time.RFC3339Nano))
		if password != nil {
			ctr = ctr.WithEnvVariable("SYFT_REGISTRY_AUTH_AUTHORITY", authority).
				WithEnvVariable("SYFT_REGISTRY_AUTH_USERNAME", user).
				WithSecretVariable("SYFT_REGISTRY_AUTH_PASSWORD", password)
		}
	}
	ctr = ctr.WithExec(append([]string{t.ImageBinary}, sbom.Args(source, fs, sbomOutDir, subject)...),
		dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, &model.ToolError{Tool: "syft", Err: err}
	}
	if code != 0 {
		stderr, _ := ctr.Stderr(ctx)
		return nil, &model.ToolError{Tool: "syft", Err: fmt.Errorf("exit %d describing %s: %s", code, subject, tools.LastLines([]byte(stderr), 5))}
	}
	outputs := map[string][]byte{}
	for _, f := range fs {
		file := ctr.File(sbomOutDir + "/" + f.File)
		b, err := file.Contents(ctx)
		if err != nil {
			return nil, &model.ToolError{Tool: "syft", Err: fmt.Errorf("read %s: %w", f.File, err)}
		}
		outputs[f.Name] = []byte(b)
		switch f.Name {
		case "spdx-json":
			out.Spdx = file
		case "cyclonedx-json":
			out.Cyclonedx = file
		}
	}
	res, err := sbom.Result(subject, fs, outputs)
	if err != nil {
		return nil, err
	}
	out.Files = ctr.Directory(sbomOutDir)
	return res, nil
}

// sbomConfigImage is the image tollgate.yaml names for the SBOM: sbom.image, else scan.image.
func sbomConfigImage(sbomImage, scanImage string) string {
	if s := strings.TrimSpace(sbomImage); s != "" {
		return s
	}
	return strings.TrimSpace(scanImage)
}

// sbomSource picks syft's source argument, the SBOM's subject name and the registry authority
// (for credentials) from the function's inputs. Exactly one of a container or a reference.
func sbomSource(hasContainer bool, imageRef string) (source, subject, authority string, err error) {
	switch {
	case hasContainer && imageRef != "":
		return "", "", "", &model.InputError{Err: errors.New("sbom: pass either image or imageRef, not both")}
	case hasContainer:
		return "oci-archive:" + sbomImagePath, "container", "", nil
	case imageRef == "":
		return "", "", "", &model.InputError{Err: errors.New("sbom: no image: pass image (a container) or imageRef (a registry reference)")}
	}
	ref, perr := name.ParseReference(imageRef)
	if perr != nil {
		return "", "", "", &model.InputError{Err: fmt.Errorf("sbom: imageRef %q is not a valid reference: %v", imageRef, perr)}
	}
	return "registry:" + ref.String(), ref.String(), ref.Context().RegistryStr(), nil
}
