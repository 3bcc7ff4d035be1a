// Package image normalises a user's image input (a docker-save tarball, an OCI archive, an OCI
// layout directory or a registry reference) into a form that both trivy and syft read, and
// validates it first so that corrupt or non-image inputs fail early as bad input.
package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Kinds of normalised input.
const (
	KindDockerArchive = "docker-archive"
	KindOCIArchive    = "oci-archive"
	KindOCILayout     = "oci-layout"
	KindRegistry      = "registry"
)

// Source is an image input normalised so both trivy and syft can read it.
type Source struct {
	Input string // as given by the user
	// Kind of the input as given: "docker-archive" | "oci-archive" | "oci-layout" | "registry".
	// An oci-archive is extracted, so its Path is an OCI layout directory.
	Kind string
	// Path is the local path trivy reads with --input: a docker-archive tarball or an OCI layout
	// DIRECTORY ("" for registry).
	Path   string
	Ref    string // registry reference (Kind == "registry"), pinned by digest once resolved
	Digest string // image manifest digest when known
	// Platform of the chosen image (e.g. linux/amd64) when the input held several, or when known.
	Platform string
	// Note says what normalisation did (extracted, picked one image of several...), for progress.
	Note string
}

// TrivyArgs are the arguments that point `trivy image` at the source.
func (s *Source) TrivyArgs() []string {
	if s.Kind == KindRegistry {
		return []string{s.Ref}
	}
	return []string{"--input", s.Path}
}

// SyftArg is syft's source argument with an explicit scheme, so syft never guesses.
func (s *Source) SyftArg() string {
	switch {
	case s.Kind == KindRegistry:
		return "registry:" + s.Ref
	case s.Kind == KindDockerArchive:
		return "docker-archive:" + s.Path
	default: // OCI archives are extracted: both kinds end as a layout directory
		return "oci-dir:" + s.Path
	}
}

// Name is a short human name of the image for messages and SBOM subjects.
func (s *Source) Name() string {
	if s.Kind == KindRegistry {
		return s.Ref
	}
	return s.Input
}

// Limits bound what Open will do with an untrusted input.
type Limits struct {
	// MaxExtractBytes caps the bytes written when extracting or decompressing an archive.
	MaxExtractBytes int64
	// MaxEntries caps the number of tar entries read.
	MaxEntries int
	// RegistryTimeout bounds resolving a registry reference (manifest, index, config): a
	// registry that accepts the connection but never answers must fail the stage, not hang
	// it. Zero means no bound beyond ctx.
	RegistryTimeout time.Duration
}

// DefaultLimits are generous for real images and still stop a tar or gzip bomb.
func DefaultLimits() Limits {
	return Limits{MaxExtractBytes: 32 << 30, MaxEntries: 1 << 20, RegistryTimeout: 45 * time.Second}
}

// Open inspects input (file, dir or reference) and normalises it; an OCI-layout tarball is
// extracted into workDir as an OCI layout directory because `trivy image --input` cannot read it.
// Corrupt/empty/non-image files -> *model.InputError naming the file. Everything Open writes
// (extracted or decompressed archives, pruned layouts) goes into fresh directories under workDir,
// which the caller removes when the run is over ("" means the system temp dir).
func Open(ctx context.Context, input, workDir string) (*Source, error) {
	return OpenWithLimits(ctx, input, workDir, DefaultLimits())
}

// OpenWithLimits is Open with explicit limits.
func OpenWithLimits(ctx context.Context, input, workDir string, lim Limits) (*Source, error) {
	o := &opener{workDir: workDir, lim: lim}
	return o.open(ctx, input)
}

type opener struct {
	workDir string
	lim     Limits
	creds   *Credentials // nil: CredentialsFromEnv
}

// Explicit scheme prefixes a user may give (syft's spelling); they skip the guessing.
var pathSchemes = map[string]string{
	"docker-archive:": KindDockerArchive,
	"oci-archive:":    KindOCIArchive,
	"oci-dir:":        KindOCILayout,
	"oci-layout:":     KindOCILayout,
}

func (o *opener) open(ctx context.Context, input string) (*Source, error) {
	in := strings.TrimSpace(input)
	if in == "" {
		return nil, &model.InputError{Err: errors.New("no image given: pass an image tarball, OCI layout directory or registry reference")}
	}
	for _, p := range []string{"registry:", "docker://"} {
		if rest, ok := strings.CutPrefix(in, p); ok {
			return o.openRegistry(ctx, input, rest)
		}
	}
	want := ""
	path := in
	for p, kind := range pathSchemes {
		if rest, ok := strings.CutPrefix(in, p); ok {
			want, path = kind, rest
			break
		}
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil:
	case want != "" || looksLikePath(path):
		return nil, &model.InputError{File: path, Err: fmt.Errorf("image input: %w", err)}
	case errors.Is(err, os.ErrNotExist):
		return o.openRegistry(ctx, input, in)
	default:
		return nil, &model.InputError{File: path, Err: fmt.Errorf("image input: %w", err)}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &model.InputError{File: path, Err: err}
	}
	var src *Source
	if fi.IsDir() {
		src, err = o.openLayoutDir(ctx, path, abs)
	} else {
		src, err = o.openArchive(ctx, path, abs)
	}
	if err != nil {
		return nil, err
	}
	if want != "" && want != src.Kind {
		return nil, &model.InputError{File: path, Err: fmt.Errorf("given as %s but it is a %s", want, src.Kind)}
	}
	src.Input = input
	return src, nil
}

// looksLikePath tells a mistyped file name from a registry reference, so a missing
// "app.tar" is reported as a missing file rather than a failed pull of docker.io/library/app.tar.
func looksLikePath(s string) bool {
	if filepath.IsAbs(s) || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") {
		return true
	}
	l := strings.ToLower(s)
	for _, ext := range []string{".tar", ".tar.gz", ".tgz", ".tar.zst"} {
		if strings.HasSuffix(l, ext) {
			return true
		}
	}
	return strings.ContainsAny(s, "\\ ") // a reference never holds a backslash or a space
}

func inputErr(file string, format string, args ...any) error {
	return &model.InputError{File: file, Err: fmt.Errorf(format, args...)}
}
