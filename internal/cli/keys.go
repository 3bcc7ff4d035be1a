package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tollgate-dev/tollgate/internal/cosign"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

func newKeysCmd(g *globalOpts, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage cosign signing keys"}
	var dir, prefix string
	gen := &cobra.Command{
		Use:   "generate",
		Short: "Create a cosign key pair (PREFIX.key, password-protected, and PREFIX.pub) with the pinned cosign",
		Long: `Create a cosign key pair with the pinned cosign (cosign generate-key-pair).
The password comes from ` + cosign.EnvPassword + ` or COSIGN_PASSWORD (an empty value makes a key
without a password), else it is asked for on the terminal. It is handed to cosign in its
environment, never on its command line. Existing key files are never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := keyPassword(stderr)
			if err != nil {
				return &exitError{code: model.ExitUsage, err: err}
			}
			cacheDir := g.cacheDir
			if cacheDir == "" {
				cacheDir = tools.DefaultCacheDir()
			}
			in := &tools.Installer{CacheDir: cacheDir, AutoInstall: !g.noAuto, Progress: stderr}
			bin, err := in.Ensure(cmd.Context(), cosign.ToolName)
			if err != nil {
				return classify(&model.ToolError{Tool: cosign.ToolName, Err: err})
			}
			key, pub, err := cosign.GenerateKeyPair(cmd.Context(), cosign.Exec{Binary: bin}, dir, prefix, pw)
			if err != nil {
				return classify(err)
			}
			fmt.Fprintf(stdout, "private key: %s (keep it secret; sign with --key %s)\npublic key:  %s (verify with --public-key %s)\n", key, key, pub, pub)
			return nil
		},
	}
	gen.Flags().StringVarP(&dir, "dir", "C", ".", "directory to write the key pair into")
	gen.Flags().StringVar(&prefix, "prefix", "cosign", "file name prefix: writes PREFIX.key and PREFIX.pub")
	cmd.AddCommand(gen)
	return cmd
}

// keyPassword reads the new key's password from the environment, else twice from the terminal.
func keyPassword(stderr io.Writer) (string, error) {
	for _, k := range []string{cosign.EnvPassword, cosign.CosignPassword} {
		if v, ok := os.LookupEnv(k); ok {
			return v, nil
		}
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("keys generate: no password: set " + cosign.EnvPassword + " (an empty value makes a key without a password)")
	}
	fmt.Fprint(stderr, "Password for the private key: ")
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(a, b) {
		return "", errors.New("keys generate: the passwords differ")
	}
	return string(a), nil
}
