package cosign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// Outcome is what a cosign verification said about one reference.
type Outcome int

// Verification outcomes. Anything else cosign can say is an error (fail closed).
const (
	// Verified: a signature (or attestation of the asked type) verified against the trust.
	Verified Outcome = iota
	// Unsigned: there is no signature at all.
	Unsigned
	// Untrusted: signatures exist, none verifies against the trusted key or identity.
	Untrusted
	// NoAttestation: no attestation of the asked type verifies against the trusted signer.
	NoAttestation
)

// cosign's exit codes for verification results (cmd/cosign/errors/exit_codes.go).
const (
	exitImageWithoutSignature = 10
	exitNoMatchingSignature   = 12
)

// cosignError is cosign's own error line ("Error: ..."), else the end of stderr.
func cosignError(stderr []byte) string {
	for _, line := range strings.Split(string(stderr), "\n") {
		if msg, ok := strings.CutPrefix(strings.TrimSpace(line), "Error: "); ok {
			return msg
		}
	}
	return tools.LastLines(stderr, 3)
}

// VerifyOutcome reads the result of `cosign verify`. Key problems are *model.InputError naming
// keySource; any other failure (registry, network, crash) is a *model.ToolError.
func VerifyOutcome(exitCode int, stderr []byte, keySource string) (Outcome, error) {
	msg := cosignError(stderr)
	switch {
	case exitCode == 0:
		return Verified, nil
	case exitCode == exitImageWithoutSignature || strings.Contains(msg, "no signatures found"):
		return Unsigned, nil
	case exitCode == exitNoMatchingSignature || strings.HasPrefix(msg, "no matching signatures"):
		return Untrusted, nil
	case strings.Contains(msg, "loading public key"):
		return 0, &model.InputError{File: keySource, Err: fmt.Errorf("cosign could not load the public key: %s", msg)}
	}
	return 0, &model.ToolError{Tool: ToolName, Err: fmt.Errorf("verify exited %d: %s", exitCode, msg)}
}

// AttestationOutcome reads the result of `cosign verify-attestation --type T`.
func AttestationOutcome(exitCode int, stderr []byte, keySource string) (Outcome, error) {
	msg := cosignError(stderr)
	switch {
	case exitCode == 0:
		return Verified, nil
	case strings.HasPrefix(msg, "no matching attestations") || strings.HasPrefix(msg, "none of the attestations matched the predicate type"):
		return NoAttestation, nil
	case exitCode == exitImageWithoutSignature || exitCode == exitNoMatchingSignature:
		return NoAttestation, nil
	case strings.Contains(msg, "loading public key"):
		return 0, &model.InputError{File: keySource, Err: fmt.Errorf("cosign could not load the public key: %s", msg)}
	}
	return 0, &model.ToolError{Tool: ToolName, Err: fmt.Errorf("verify-attestation exited %d: %s", exitCode, msg)}
}

// SignError explains a failed `cosign sign` or `cosign attest`: key problems (wrong password,
// corrupt or missing key) are *model.InputError naming the key; the rest is a *model.ToolError.
// Tollgate checks the key before cosign runs, so the first kind is for the Dagger runner, which
// hands cosign the key as a secret it never reads itself.
func SignError(verb string, exitCode int, stderr []byte, keySource, passwordSource string) error {
	msg := cosignError(stderr)
	switch {
	case strings.Contains(msg, "decryption failed"):
		src := "no password given"
		if passwordSource != "" {
			src = "password from " + passwordSource
		}
		return &model.InputError{File: keySource, Err: fmt.Errorf("wrong password for the cosign private key (%s)", src)}
	case strings.Contains(msg, "invalid pem block"), strings.Contains(msg, "unsupported pem type"), strings.Contains(msg, "parsing private key"):
		return &model.InputError{File: keySource, Err: fmt.Errorf("not a usable cosign private key: %s", msg)}
	case strings.Contains(msg, "reading key") && strings.Contains(msg, "no such file"):
		return &model.InputError{File: keySource, Err: errors.New("cosign private key not found")}
	}
	return &model.ToolError{Tool: ToolName, Err: fmt.Errorf("%s exited %d: %s", verb, exitCode, msg)}
}

// Exec runs cosign as a local process: the native runner's executor.
type Exec struct {
	// Binary is the cosign executable.
	Binary string
	// Env is cosign's environment beyond tools.Run's minimal one (secrets go here).
	Env []string
	// Timeout bounds each cosign process.
	Timeout time.Duration
	// Dir is the working directory ("" inherits).
	Dir string
}

// Run executes cosign with args. A crash, kill or timeout is a *model.ToolError; a non-zero
// exit is returned for the caller to interpret.
func (e Exec) Run(ctx context.Context, args []string) (*tools.Result, error) {
	t := e.Timeout
	if t <= 0 {
		t = 5 * time.Minute
	}
	return tools.Run(ctx, ToolName, tools.Cmd{Path: e.Binary, Args: args, Env: e.Env, Timeout: t, Dir: e.Dir})
}

// SignRequest is one native signing or attesting of a subject.
type SignRequest struct {
	Exec    Exec
	Subject *Subject
	Signer  Signer
	Common  Common
	// KeySource and PasswordSource name the key and password in error messages.
	KeySource, PasswordSource string
}

// Sign signs the subject by digest; an index is signed along with every manifest in it.
func Sign(ctx context.Context, req SignRequest) error {
	args, err := SignArgs(req.Signer, req.Common, req.Subject.IsIndex(), req.Subject.Ref())
	if err != nil {
		return &model.InputError{Err: err}
	}
	res, err := req.Exec.Run(ctx, args)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return SignError("sign", res.ExitCode, res.Stderr, req.KeySource, req.PasswordSource)
	}
	return nil
}

// Attest attaches one signed in-toto attestation with the predicate to the subject's digest.
// The predicate is written to a private file in dir for cosign to read, and removed after.
func Attest(ctx context.Context, req SignRequest, predicateType string, predicate []byte, dir string) error {
	f, err := os.CreateTemp(dir, "predicate-*.json")
	if err != nil {
		return &model.ToolError{Tool: ToolName, Err: fmt.Errorf("write predicate: %w", err)}
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(predicate)
	if err := errors.Join(werr, f.Close()); err != nil {
		return &model.ToolError{Tool: ToolName, Err: fmt.Errorf("write predicate: %w", err)}
	}
	abs, _ := filepath.Abs(f.Name())
	args, err := AttestArgs(req.Signer, req.Common, predicateType, abs, req.Subject.Ref())
	if err != nil {
		return &model.InputError{Err: err}
	}
	res, err := req.Exec.Run(ctx, args)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return SignError("attest --type "+predicateType, res.ExitCode, res.Stderr, req.KeySource, req.PasswordSource)
	}
	return nil
}

// GenerateKeyPair writes PREFIX.key (password-protected) and PREFIX.pub into dir with
// `cosign generate-key-pair`. Existing files are never overwritten (an input error).
func GenerateKeyPair(ctx context.Context, e Exec, dir, prefix, password string) (keyFile, pubFile string, err error) {
	args, err := GenerateKeyPairArgs(prefix)
	if err != nil {
		return "", "", &model.InputError{Err: err}
	}
	keyFile, pubFile = filepath.Join(dir, prefix+".key"), filepath.Join(dir, prefix+".pub")
	for _, f := range []string{keyFile, pubFile} {
		if _, err := os.Stat(f); err == nil {
			return "", "", &model.InputError{File: f, Err: errors.New("already exists; Tollgate never overwrites a key (move it away first)")}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", &model.InputError{File: dir, Err: fmt.Errorf("key directory: %w", unwrapPathError(err))}
	}
	e.Dir = dir
	e.Env = append(e.Env, CosignPassword+"="+password)
	res, err := e.Run(ctx, args)
	if err != nil {
		return "", "", err
	}
	if res.ExitCode != 0 {
		return "", "", &model.ToolError{Tool: ToolName, Err: fmt.Errorf("generate-key-pair exited %d: %s", res.ExitCode, cosignError(res.Stderr))}
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return "", "", &model.ToolError{Tool: ToolName, Err: fmt.Errorf("generate-key-pair wrote no key: %w", err)}
	}
	if err := CheckPrivateKey(&PrivateKey{PEM: key, File: keyFile, Source: keyFile}, Password{Value: password, Source: "the given password"}); err != nil {
		return "", "", &model.ToolError{Tool: ToolName, Err: fmt.Errorf("generate-key-pair wrote a key Tollgate cannot open: %w", err)}
	}
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		return "", "", &model.ToolError{Tool: ToolName, Err: fmt.Errorf("generate-key-pair wrote no public key: %w", err)}
	}
	if err := CheckPublicKey(pub); err != nil {
		return "", "", &model.ToolError{Tool: ToolName, Err: fmt.Errorf("generate-key-pair wrote a bad public key: %w", err)}
	}
	return keyFile, pubFile, nil
}
