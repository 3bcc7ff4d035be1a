package cosign

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// cosignVerify runs the real `cosign verify` directly, not through Tollgate: what a user, an
// admission controller or a deploy script would run.
func cosignVerify(t *testing.T, pub, ref string) int {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(root, []byte(EmptyTrustedRoot), 0o600)
	res, err := tools.Run(context.Background(), "cosign", tools.Cmd{Path: fx.cosign, Timeout: time.Minute,
		Args: []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--trusted-root", root, ref}})
	if err != nil {
		t.Fatal(err)
	}
	return res.ExitCode
}

func rules(fs []model.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.RuleID)
	}
	return out
}

func TestSignThenVerify(t *testing.T) {
	need(t)
	ctx := context.Background()
	digest := push(t, "team/app:1", smallImage(t))
	subj := signWith(t, fx.reg.Host+"/team/app:1", fx.key1, fx.pw1)
	if subj.Digest != digest || subj.Ref() != fx.reg.Host+"/team/app@"+digest {
		t.Fatalf("signed %s, want the tag's digest %s", subj.Ref(), digest)
	}

	t.Run("tollgate verify passes with the right key", func(t *testing.T) {
		fs, err := verifier(fx.pub1).VerifyImages(ctx, []string{fx.reg.Host + "/team/app:1"})
		if err != nil || len(fs) != 0 {
			t.Fatalf("findings %v, err %v", fs, err)
		}
	})
	t.Run("real cosign verify passes", func(t *testing.T) {
		if code := cosignVerify(t, fx.pub1, subj.Ref()); code != 0 {
			t.Fatalf("cosign verify exited %d", code)
		}
	})
	t.Run("wrong key fails", func(t *testing.T) {
		fs, err := verifier(fx.pub2).VerifyImages(ctx, []string{subj.Ref()})
		if err != nil || len(fs) != 1 || fs[0].RuleID != RuleUntrusted || fs[0].Severity != model.SeverityCritical {
			t.Fatalf("findings %+v, err %v; want one %s", fs, err, RuleUntrusted)
		}
		if !strings.Contains(fs[0].Message, "second.pub") || fs[0].Location.Resource != subj.Ref() {
			t.Errorf("message %q / resource %q should name the key and the digest", fs[0].Message, fs[0].Location.Resource)
		}
		if code := cosignVerify(t, fx.pub2, subj.Ref()); code == 0 {
			t.Error("real cosign verify passed with the wrong key")
		}
	})
	t.Run("same tag re-pushed with new content fails", func(t *testing.T) {
		newDigest := push(t, "team/app:1", smallImage(t))
		fs, err := verifier(fx.pub1).VerifyImages(ctx, []string{fx.reg.Host + "/team/app:1"})
		if err != nil || len(fs) != 1 || fs[0].RuleID != RuleUnsigned || !strings.Contains(fs[0].Message, newDigest) || !strings.Contains(fs[0].Message, "resolved from") {
			t.Fatalf("findings %+v, err %v; want %s naming the new digest %s", fs, err, RuleUnsigned, newDigest)
		}
		// The signed digest itself still verifies: the signature is bound to content, not to the tag.
		if fs, err := verifier(fx.pub1).VerifyImages(ctx, []string{subj.Ref()}); err != nil || len(fs) != 0 {
			t.Fatalf("old digest: %v %v", fs, err)
		}
	})
	t.Run("unsigned image fails", func(t *testing.T) {
		push(t, "team/other:1", smallImage(t))
		fs, err := verifier(fx.pub1).VerifyImages(ctx, []string{fx.reg.Host + "/team/other:1"})
		if err != nil || len(fs) != 1 || fs[0].RuleID != RuleUnsigned {
			t.Fatalf("findings %+v, err %v", fs, err)
		}
	})
	t.Run("image not in the registry is a finding", func(t *testing.T) {
		fs, err := verifier(fx.pub1).VerifyImages(ctx, []string{fx.reg.Host + "/team/ghost:1"})
		if err != nil || len(fs) != 1 || fs[0].RuleID != RuleImageMissing {
			t.Fatalf("findings %+v, err %v", fs, err)
		}
	})
}

func TestSignWithKeyFromEnvironment(t *testing.T) {
	need(t)
	push(t, "team/envkey:1", smallImage(t))
	pem, err := os.ReadFile(fx.key2)
	if err != nil {
		t.Fatal(err)
	}
	subj, err := Resolve(context.Background(), fx.reg.Host+"/team/envkey:1", loopback)
	if err != nil {
		t.Fatal(err)
	}
	req := SignRequest{Exec: Exec{Binary: fx.cosign, Env: Env(Secrets{Password: fx.pw2, KeyPEM: string(pem)}, true, nil)},
		Subject: subj, Signer: Signer{Key: "env://" + KeyVar}, Common: Common{AllowHTTP: true}}
	if err := Sign(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if fs, err := verifier(fx.pub2).VerifyImages(context.Background(), []string{subj.Ref()}); err != nil || len(fs) != 0 {
		t.Fatalf("findings %v, err %v", fs, err)
	}
}

func TestMultiPlatformIndex(t *testing.T) {
	need(t)
	ctx := context.Background()
	idx, err := testimage.Index("linux/amd64", "linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	pushIndex(t, "team/multi:1", idx)
	subj := signWith(t, fx.reg.Host+"/team/multi:1", fx.key1, fx.pw1)
	if !subj.IsIndex() || len(subj.Manifests) != 2 {
		t.Fatalf("subject %+v, want an index of 2", subj)
	}
	fs, err := verifier(fx.pub1).VerifyImages(ctx, []string{fx.reg.Host + "/team/multi:1"})
	if err != nil || len(fs) != 0 {
		t.Fatalf("findings %v, err %v", fs, err)
	}
	for _, ref := range subj.Refs() {
		if code := cosignVerify(t, fx.pub1, ref); code != 0 {
			t.Errorf("real cosign verify of %s exited %d", ref, code)
		}
	}

	// An index signed alone (not recursively) leaves its platform manifests unsigned: each one
	// is a finding that names its platform.
	idx2, _ := testimage.Index("linux/amd64", "linux/arm64")
	pushIndex(t, "team/multi:2", idx2)
	half, err := Resolve(ctx, fx.reg.Host+"/team/multi:2", loopback)
	if err != nil {
		t.Fatal(err)
	}
	args, _ := SignArgs(Signer{Key: fx.key1}, Common{AllowHTTP: true}, false, half.Ref())
	res, err := Exec{Binary: fx.cosign, Env: Env(Secrets{Password: fx.pw1}, true, nil)}.Run(ctx, args)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("cosign sign of the index alone: %v %s", err, res.Stderr)
	}
	fs, err = verifier(fx.pub1).VerifyImages(ctx, []string{half.Ref()})
	if err != nil || len(fs) != 2 {
		t.Fatalf("findings %+v, err %v; want one per platform manifest", fs, err)
	}
	for i, f := range fs {
		want := half.Manifests[i]
		if f.RuleID != RuleUnsigned || f.Location.Resource != half.Repo+"@"+want.Digest || !strings.Contains(f.Message, want.Platform) {
			t.Errorf("finding %+v should name %s (%s)", f, want.Digest, want.Platform)
		}
	}
}

func TestRegistryFailures(t *testing.T) {
	need(t)
	ctx := context.Background()
	t.Run("plain HTTP is refused unless asked", func(t *testing.T) {
		push(t, "team/http:1", smallImage(t))
		_, err := Resolve(ctx, fx.reg.Host+"/team/http:1", RegistryOptions{})
		var ie *model.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "plain HTTP") || !strings.Contains(err.Error(), "allow-http-registry") {
			t.Fatalf("err %v, want an input error pointing at allow-http-registry", err)
		}
	})
	t.Run("unreachable registry is a tool error, at once", func(t *testing.T) {
		addr, stop, err := testimage.SilentListener()
		if err != nil {
			t.Fatal(err)
		}
		stop() // nothing listens there any more
		start := time.Now()
		_, err = Resolve(ctx, addr+"/team/app:1", RegistryOptions{AllowHTTP: true, Timeout: 10 * time.Second})
		var te *model.ToolError
		if !errors.As(err, &te) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %s, want a prompt tool error", err, time.Since(start))
		}
	})
	t.Run("silent registry is a tool error within the timeout", func(t *testing.T) {
		addr, stop, err := testimage.SilentListener()
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		start := time.Now()
		_, err = verifier(fx.pub1).withRegistryTimeout(400*time.Millisecond).VerifyImages(ctx, []string{addr + "/team/app:1"})
		var te *model.ToolError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "did not answer within") {
			t.Fatalf("err %v, want a tool error saying the registry did not answer", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %s with a 400ms registry timeout", d)
		}
	})
}

func (v *Verifier) withRegistryTimeout(d time.Duration) *Verifier {
	v.Registry.Timeout = d
	return v
}

func TestKeyChecks(t *testing.T) {
	need(t)
	key, err := os.ReadFile(fx.key1)
	if err != nil {
		t.Fatal(err)
	}
	k := &PrivateKey{PEM: key, File: fx.key1, Source: "keys/first.key"}
	if err := CheckPrivateKey(k, Password{Value: fx.pw1, Source: "$TOLLGATE_COSIGN_PASSWORD"}); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	corrupt := strings.Replace(string(key), "\n", "\nAAAA", 2)
	for _, tt := range []struct {
		name string
		pem  string
		pw   Password
		want string
	}{
		{"wrong password", string(key), Password{Value: "nope", Source: "$TOLLGATE_COSIGN_PASSWORD"}, "wrong password for this key (password from $TOLLGATE_COSIGN_PASSWORD)"},
		{"no password", string(key), Password{}, "no password was given"},
		{"garbage", "not a key", Password{}, "no PEM block"},
		{"corrupt body", corrupt, Password{Value: fx.pw1}, "cosign private key"},
		{"public key as private", mustRead(t, fx.pub1), Password{}, "not a cosign private key"},
	} {
		err := CheckPrivateKey(&PrivateKey{PEM: []byte(tt.pem), Source: "keys/first.key"}, tt.pw)
		var ie *model.InputError
		if !errors.As(err, &ie) || ie.File != "keys/first.key" || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an input error naming keys/first.key containing %q", tt.name, err, tt.want)
		}
		if strings.Contains(err.Error(), fx.pw1) {
			t.Errorf("%s: the message leaks the password", tt.name)
		}
	}
	if err := CheckPublicKey(key); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("a private key passed as public: %v", err)
	}
	if _, _, err := GenerateKeyPair(context.Background(), Exec{Binary: fx.cosign}, filepath.Dir(fx.key1), "first", "x"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("generate-key-pair over an existing key: %v", err)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The offline guard is not vacuous: cosign verify without Tollgate's empty trusted root goes
// for the public-good TUF repository, and the recorder sees it. (The run's check then ignores
// this one request.)
func TestOfflineGuardSeesNetworkUse(t *testing.T) {
	need(t)
	push(t, "team/guard:1", smallImage(t))
	subj := signWith(t, fx.reg.Host+"/team/guard:1", fx.key1, fx.pw1)
	before := len(fx.outbound.snapshot())
	res, err := tools.Run(context.Background(), "cosign", tools.Cmd{Path: fx.cosign, Timeout: time.Minute,
		Args: []string{"verify", "--key", fx.pub1, "--insecure-ignore-tlog=true", subj.Ref()}})
	if err != nil {
		t.Fatal(err)
	}
	seen := fx.outbound.snapshot()[before:]
	fx.outbound.forget(before)
	if len(seen) == 0 {
		t.Fatalf("cosign without a trusted root made no outbound request (exit %d); the guard proves nothing", res.ExitCode)
	}
	if !strings.Contains(strings.Join(seen, " "), "tuf") {
		t.Errorf("outbound requests %q, expected the TUF repository", seen)
	}
}
