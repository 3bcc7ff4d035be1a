package cosign

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// PEM block types of cosign private keys (cosign's own and the older name).
const (
	pemSigstorePrivate = "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemCosignPrivate   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// PrivateKey is a cosign private key and where it came from.
type PrivateKey struct {
	PEM []byte
	// File is the key file; "" when the key came from the environment.
	File string
	// Source names the key in messages: the file, or $TOLLGATE_COSIGN_KEY.
	Source string
}

// CosignArg is how cosign is told where the key is: the file, or env://KeyVar (the PEM then
// travels in cosign's environment, see Secrets.KeyPEM).
func (k *PrivateKey) CosignArg() string {
	if k.File != "" {
		return k.File
	}
	return "env://" + KeyVar
}

// Password is a key password and where it came from (never the value, in messages).
type Password struct {
	Value  string
	Source string // e.g. $TOLLGATE_COSIGN_PASSWORD, or the password file; "" when none was given
}

// SigningMaterial is what signing needs: a key and its password, or nothing (keyless).
type SigningMaterial struct {
	Key      *PrivateKey // nil when keyless
	Password Password
	Keyless  bool
}

// Configured reports whether signing is set up at all (a key, or keyless).
func (m *SigningMaterial) Configured() bool { return m.Key != nil || m.Keyless }

// LoadSigningMaterial reads the signing key (sign.key, relative to root, else $TOLLGATE_COSIGN_KEY)
// and its password (sign.password-file, else $TOLLGATE_COSIGN_PASSWORD, else $COSIGN_PASSWORD),
// and checks the password opens the key. Nothing configured is not an error: Configured() says.
// A missing, corrupt or locked key is a *model.InputError naming the key and the password's source.
func LoadSigningMaterial(c *config.Config, root string, lookup func(string) (string, bool)) (*SigningMaterial, error) {
	m := &SigningMaterial{Keyless: c.Sign.Keyless}
	keyPEM, keyFromEnv := lookup(EnvKey)
	keyFromEnv = keyFromEnv && strings.TrimSpace(keyPEM) != ""
	switch {
	case c.Sign.Key != "" && c.Sign.Keyless:
		return nil, &model.InputError{File: c.Path, Err: errors.New("sign: set either sign.key or sign.keyless, not both")}
	case c.Sign.Key != "":
		p := c.Sign.Key
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, &model.InputError{File: c.Sign.Key, Err: fmt.Errorf("cosign private key: %w", unwrapPathError(err))}
		}
		abs, _ := filepath.Abs(p)
		m.Key = &PrivateKey{PEM: b, File: abs, Source: c.Sign.Key}
	case keyFromEnv && !c.Sign.Keyless:
		m.Key = &PrivateKey{PEM: []byte(keyPEM), Source: "$" + EnvKey}
	}
	if m.Key == nil {
		return m, nil
	}
	pw, err := LoadPassword(c, root, lookup)
	if err != nil {
		return nil, err
	}
	m.Password = pw
	if err := CheckPrivateKey(m.Key, pw); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadPassword reads the key password from sign.password-file, $TOLLGATE_COSIGN_PASSWORD or
// $COSIGN_PASSWORD. A password file loses one trailing newline (echo adds it).
func LoadPassword(c *config.Config, root string, lookup func(string) (string, bool)) (Password, error) {
	if f := c.Sign.PasswordFile; f != "" {
		p := f
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return Password{}, &model.InputError{File: f, Err: fmt.Errorf("key password file: %w", unwrapPathError(err))}
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		return Password{Value: v, Source: f}, nil
	}
	for _, k := range []string{EnvPassword, CosignPassword} {
		if v, ok := lookup(k); ok {
			return Password{Value: v, Source: "$" + k}, nil
		}
	}
	return Password{}, nil
}

// CheckPrivateKey checks that k is a cosign private key and that pw opens it, the way cosign
// will, so a wrong password or a corrupt key is a clear input error before anything is signed.
func CheckPrivateKey(k *PrivateKey, pw Password) error {
	bad := func(format string, args ...any) error {
		return &model.InputError{File: k.Source, Err: fmt.Errorf(format, args...)}
	}
	block, _ := pem.Decode(k.PEM)
	if block == nil {
		return bad("not a cosign private key (no PEM block); create one with `tollgate keys generate`")
	}
	if block.Type != pemSigstorePrivate && block.Type != pemCosignPrivate {
		return bad("PEM block %q is not a cosign private key (want %q; import other keys with `cosign import-key-pair`)", block.Type, pemSigstorePrivate)
	}
	der, err := encrypted.Decrypt(block.Bytes, []byte(pw.Value))
	if err != nil {
		if strings.Contains(err.Error(), "decryption failed") {
			src := pw.Source
			if src == "" {
				src = "no password was given: set " + EnvPassword + " or sign.password-file"
			} else {
				src = "password from " + src
			}
			return bad("wrong password for this key (%s)", src)
		}
		return bad("corrupt cosign private key: %v", err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
		return bad("corrupt cosign private key: %v", err)
	}
	return nil
}

// PublicKey is a trusted cosign public key and where it came from.
type PublicKey struct {
	PEM    []byte
	File   string // "" when from the environment
	Source string
}

// LoadPublicKey reads verify.key (relative to root) or $TOLLGATE_COSIGN_PUBLIC_KEY and checks it
// is a PEM public key. It returns nil, nil when neither is set.
func LoadPublicKey(c *config.Config, root string, lookup func(string) (string, bool)) (*PublicKey, error) {
	var k *PublicKey
	if c.Verify.Key != "" {
		p := c.Verify.Key
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, &model.InputError{File: c.Verify.Key, Err: fmt.Errorf("cosign public key: %w", unwrapPathError(err))}
		}
		abs, _ := filepath.Abs(p)
		k = &PublicKey{PEM: b, File: abs, Source: c.Verify.Key}
	} else if v, ok := lookup(EnvPublicKey); ok && strings.TrimSpace(v) != "" {
		k = &PublicKey{PEM: []byte(v), Source: "$" + EnvPublicKey}
	} else {
		return nil, nil
	}
	if err := CheckPublicKey(k.PEM); err != nil {
		return nil, &model.InputError{File: k.Source, Err: err}
	}
	return k, nil
}

// CheckPublicKey checks b is a PEM-encoded public key cosign can verify with.
func CheckPublicKey(b []byte) error {
	block, _ := pem.Decode(b)
	if block == nil {
		return errors.New("not a PEM-encoded public key")
	}
	if block.Type == pemSigstorePrivate || block.Type == pemCosignPrivate || strings.Contains(block.Type, "PRIVATE") {
		return errors.New("this is a private key: verification needs the public key (cosign.pub)")
	}
	if block.Type != "PUBLIC KEY" {
		return fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		return fmt.Errorf("corrupt public key: %v", err)
	}
	return nil
}

// unwrapPathError drops the path from an *os.PathError: the InputError names the file already.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// KeyDescription says how signing is done, for summaries: never the key itself.
func (m *SigningMaterial) KeyDescription() string {
	if m.Key == nil {
		return "a keyless (Fulcio) certificate"
	}
	return "the key " + m.Key.Source
}
