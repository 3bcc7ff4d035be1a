package sign_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testimage"
	"github.com/tollgate-dev/tollgate/internal/tools"
)

// realCosignVerify is the plain `cosign verify` a deploy script would run.
func realCosignVerify(t *testing.T, pub, ref string) int {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(root, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o600)
	res, err := tools.Run(context.Background(), "cosign", tools.Cmd{Path: fx.cosign, Timeout: time.Minute,
		Args: []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--trusted-root", root, ref}})
	if err != nil {
		t.Fatal(err)
	}
	return res.ExitCode
}

func trivyReport(created time.Time, vulns string) string {
	return fmt.Sprintf(`{"SchemaVersion":2,"CreatedAt":%q,"ArtifactName":"app","Metadata":{},"Results":[{"Target":"app","Class":"os-pkgs","Type":"alpine","Vulnerabilities":[%s]}]}`,
		created.UTC().Format(time.RFC3339), vulns)
}

const spdxFixture = `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app","documentNamespace":"https://tollgate.test/app",
"creationInfo":{"creators":["Tool: syft"],"created":"%s"},"packages":[]}`

func TestSignAttestVerify(t *testing.T) {
	need(t)
	dir := project(t, "")
	digest := push(t, fx.reg.Host, "team/app:1", small(t), nil)
	ref := fx.reg.Host + "/team/app:1"
	pinned := fx.reg.Host + "/team/app@" + digest

	out := t.TempDir()
	r := tollgateOut(t, dir, out, keyEnv(), args([]string{"sign", ref, "--key", fx.key}, signFlags)...)
	if r.code != 0 {
		t.Fatalf("sign: %s", r)
	}
	if st, _ := r.stage("sign"); st != "pass" || !slices.Equal(r.rules("sign"), []string{"SIGN001"}) {
		t.Fatalf("sign: status %s findings %v; want pass with the tlog notice", st, r.rules("sign"))
	}
	if rec := readRecord(t, filepath.Join(out, "signed.json")); rec.Reference != pinned || rec.Image != ref || rec.Tlog || !strings.Contains(rec.Signer, fx.key) {
		t.Fatalf("signed.json %+v, want %s signed with %s", rec, pinned, fx.key)
	}

	os.WriteFile(filepath.Join(dir, "sbom.spdx.json"), []byte(fmt.Sprintf(spdxFixture, time.Now().UTC().Format(time.RFC3339))), 0o644)
	os.WriteFile(filepath.Join(dir, "trivy.json"), []byte(trivyReport(time.Now().Add(-time.Hour), `{"VulnerabilityID":"CVE-1","PkgName":"musl","InstalledVersion":"1","Severity":"LOW"}`)), 0o644)
	r = tollgateOut(t, dir, out, keyEnv(), args([]string{"attest", ref, "--key", fx.key, "--sbom", "sbom.spdx.json", "--vuln-report", "trivy.json"}, signFlags)...)
	if st, _ := r.stage("attest"); r.code != 0 || st != "pass" {
		t.Fatalf("attest: %s", r)
	}
	rec := readRecord(t, filepath.Join(out, "attested.json"))
	var types []string
	for _, p := range rec.Predicates {
		types = append(types, p.Type)
	}
	if rec.Reference != pinned || strings.Join(types, ",") != "spdxjson,vuln,slsaprovenance1" {
		t.Fatalf("attested.json %+v", rec)
	}
	for _, f := range []string{"provenance.slsa.json", "vuln.cosign.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		}
	}

	verify := func(pub string, extra ...string) result {
		return tollgate(t, dir, nil, args([]string{"verify", ref, "--public-key", pub}, verifyFlags, extra)...)
	}
	t.Run("verify passes, and so does the real cosign verify", func(t *testing.T) {
		r := verify(fx.pub, "--require", "sbom:1d", "--require", "vuln:7d", "--require", "provenance:1h")
		if r.code != 0 || !slices.Equal(r.rules("verify"), []string{"VERIFY006"}) {
			t.Fatalf("verify: %s", r)
		}
		if code := realCosignVerify(t, fx.pub, pinned); code != 0 {
			t.Fatalf("cosign verify exited %d", code)
		}
	})
	t.Run("wrong key fails with exit 1", func(t *testing.T) {
		r := verify(fx.otherPub)
		if r.code != 1 || !slices.Contains(r.rules("verify"), "VERIFY002") {
			t.Fatalf("%s", r)
		}
	})
	t.Run("missing attestation fails with exit 1 and says which", func(t *testing.T) {
		r := verify(fx.pub, "--require", "cyclonedx")
		if r.code != 1 || !slices.Contains(r.rules("verify"), "VERIFY003") || !strings.Contains(r.stdout, "no cyclonedx attestation") {
			t.Fatalf("%s", r)
		}
	})
	t.Run("too old fails with exit 1 and says which", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "old.json"), []byte(trivyReport(time.Now().Add(-10*24*time.Hour), "")), 0o644)
		r := tollgate(t, dir, keyEnv(), args([]string{"attest", ref, "--key", fx.key, "--predicates", "vuln", "--vuln-report", "old.json"}, signFlags)...)
		if r.code != 0 {
			t.Fatalf("attest old scan: %s", r)
		}
		r = verify(fx.pub, "--require", "vuln:7d")
		if r.code != 1 || !slices.Contains(r.rules("verify"), "VERIFY004") || !strings.Contains(r.stdout, "newest vuln attestation") || !strings.Contains(r.stdout, "10d old") {
			t.Fatalf("%s", r)
		}
	})
	t.Run("the same tag re-pushed with new content fails", func(t *testing.T) {
		push(t, fx.reg.Host, "team/app:1", small(t), nil)
		r := verify(fx.pub)
		if r.code != 1 || !slices.Contains(r.rules("verify"), "VERIFY001") {
			t.Fatalf("%s", r)
		}
	})
	t.Run("an unsigned image fails", func(t *testing.T) {
		push(t, fx.reg.Host, "team/unsigned:1", small(t), nil)
		r := tollgate(t, dir, nil, args([]string{"verify", fx.reg.Host + "/team/unsigned:1", "--public-key", fx.pub}, verifyFlags)...)
		if r.code != 1 || !slices.Contains(r.rules("verify"), "VERIFY001") {
			t.Fatalf("%s", r)
		}
	})
}

func TestMultiPlatformIndexThroughCLI(t *testing.T) {
	need(t)
	dir := project(t, "")
	idx, err := testimage.Index("linux/amd64", "linux/arm64", "linux/arm/v7")
	if err != nil {
		t.Fatal(err)
	}
	ref := pushIndex(t, fx.reg.Host, "team/multi:1", idx)
	out := t.TempDir()
	r := tollgateOut(t, dir, out, keyEnv(), args([]string{"sign", ref, "--key", fx.key}, signFlags)...)
	if st, _ := r.stage("sign"); r.code != 0 || st != "pass" {
		t.Fatalf("sign: %s", r)
	}
	if rec := readRecord(t, filepath.Join(out, "signed.json")); len(rec.Manifests) != 3 || rec.Manifests[2].Platform != "linux/arm/v7" {
		t.Fatalf("signed.json %+v, want the index and its 3 manifests", rec)
	}
	r = tollgate(t, dir, nil, args([]string{"verify", ref, "--public-key", fx.pub}, verifyFlags)...)
	if r.code != 0 {
		t.Fatalf("verify: %s", r)
	}
	m, _ := idx.IndexManifest()
	for _, d := range m.Manifests {
		if code := realCosignVerify(t, fx.pub, fx.reg.Host+"/team/multi@"+d.Digest.String()); code != 0 {
			t.Errorf("platform %s: cosign verify exited %d", d.Platform, code)
		}
	}
}

// A missing, corrupt or locked key is bad input (exit 2) that names the key, before anything
// reaches the registry; nothing is signed.
func TestKeyProblemsAreInputErrors(t *testing.T) {
	need(t)
	dir := project(t, "")
	push(t, fx.reg.Host, "team/keys:1", small(t), nil)
	ref := fx.reg.Host + "/team/keys:1"
	os.WriteFile(filepath.Join(dir, "corrupt.key"), []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGEga2V5\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), 0o600)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"missing key file", keyEnv(), []string{"sign", ref, "--key", "nowhere.key"}, []string{"nowhere.key"}},
		{"wrong password", map[string]string{"TOLLGATE_COSIGN_PASSWORD": "not-" + fx.pw}, []string{"sign", ref, "--key", fx.key}, []string{fx.key, "wrong password", "$TOLLGATE_COSIGN_PASSWORD"}},
		{"no password", nil, []string{"attest", ref, "--key", fx.key}, []string{fx.key, "no password was given"}},
		{"corrupt key", keyEnv(), []string{"sign", ref, "--key", "corrupt.key"}, []string{"corrupt.key", "corrupt"}},
		{"no key at all", nil, []string{"sign", ref}, []string{"no signing key"}},
		{"bad public key", nil, []string{"verify", ref, "--public-key", fx.key}, []string{fx.key, "private key"}},
		{"incomplete keyless identity", nil, []string{"verify", ref, "--certificate-identity", "me@example.com"}, []string{"certificate-oidc-issuer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tollgate(t, dir, tt.env, args(tt.args, signFlags[:1])...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", r.code, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not name %q", r.stderr, w)
				}
			}
			if strings.Contains(r.stdout+r.stderr, fx.pw) {
				t.Error("the output carries the key password")
			}
		})
	}
	r := tollgate(t, dir, nil, args([]string{"verify", ref, "--public-key", fx.pub}, verifyFlags)...)
	if r.code != 1 || !slices.Contains(r.rules("verify"), "VERIFY001") {
		t.Fatalf("after the failed attempts the image must still be unsigned: %s", r)
	}
}

// An unreachable registry, or one that accepts connections and never answers, is an
// infrastructure error (exit 3) within the configured bound, never a hang or a pass.
func TestRegistryUnreachableOrSilent(t *testing.T) {
	need(t)
	dir := project(t, "sign:\n  timeout: 3s\nverify:\n  timeout: 3s\n")
	silent, stop, err := testimage.SilentListener()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	closed, stop2, _ := testimage.SilentListener()
	stop2()
	for _, tc := range []struct {
		name, host string
	}{{"unreachable", closed}, {"silent", silent}} {
		for _, cmd := range [][]string{{"sign", "--key", fx.key}, {"attest", "--key", fx.key}, {"verify", "--public-key", fx.pub}} {
			t.Run(tc.name+" "+cmd[0], func(t *testing.T) {
				start := time.Now()
				r := tollgate(t, dir, keyEnv(), args([]string{cmd[0], tc.host + "/team/app:1"}, cmd[1:], []string{"--allow-http-registry"})...)
				if r.code != 3 {
					t.Fatalf("exit %d, want 3\n%s", r.code, r)
				}
				within(t, 15*time.Second, start, tc.name+" registry")
				if !strings.Contains(r.stderr, tc.host) {
					t.Errorf("stderr %q should name the registry", r.stderr)
				}
			})
		}
	}
}

func TestKeysGenerateNeverOverwrites(t *testing.T) {
	need(t)
	before, _ := os.ReadFile(fx.key)
	r := tollgateIn(nil, fx.keyDir, map[string]string{"TOLLGATE_COSIGN_PASSWORD": "x"}, "keys", "generate", "--prefix", "release")
	after, _ := os.ReadFile(fx.key)
	if r.code != 2 || !strings.Contains(r.stderr, "already exists") || string(before) != string(after) {
		t.Fatalf("keys generate over an existing key: %s", r)
	}
	r = tollgateIn(nil, t.TempDir(), nil, "keys", "generate")
	if r.code != 2 || !strings.Contains(r.stderr, "TOLLGATE_COSIGN_PASSWORD") {
		t.Fatalf("keys generate without a password and no terminal: %s", r)
	}
}
