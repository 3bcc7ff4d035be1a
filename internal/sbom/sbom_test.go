package sbom

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/model"
)

func TestFormatsFor(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string // syft ids
		wantErr string
	}{
		{in: config.Default().SBOM.Formats, want: []string{"spdx-json@2.3", "cyclonedx-json@1.6"}},
		{in: []string{"CycloneDX-JSON"}, want: []string{"cyclonedx-json@1.6"}},
		{in: []string{"spdx-json", "spdx-json"}, want: []string{"spdx-json@2.3"}},
		{in: []string{"spdx-tag-value"}, wantErr: `unknown format "spdx-tag-value"`},
		{in: nil, wantErr: "none selected"},
	}
	for _, tc := range tests {
		got, err := FormatsFor(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("FormatsFor(%v) err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("FormatsFor(%v): %v", tc.in, err)
		}
		var ids []string
		for _, f := range got {
			ids = append(ids, f.Syft)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("FormatsFor(%v) = %v, want %v", tc.in, ids, tc.want)
		}
	}
}

func TestArgs(t *testing.T) {
	fs, _ := FormatsFor([]string{"spdx-json", "cyclonedx-json"})
	got := Args("oci-dir:/w/oci-1", fs, "/out/", "app.tar")
	want := []string{"scan", "oci-dir:/w/oci-1", "--source-name", "app.tar",
		"-o", "spdx-json@2.3=/out/sbom.spdx.json", "-o", "cyclonedx-json@1.6=/out/sbom.cdx.json"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Args = %q\nwant   %q", got, want)
	}
	if e := Env(); len(e) != 1 || e[0] != "SYFT_CHECK_FOR_APP_UPDATE=false" {
		t.Errorf("Env = %v", e)
	}
}

const (
	emptySPDX = `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"x","packages":[
		{"name":"x","SPDXID":"SPDXRef-DocumentRoot-Image-x","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:oci/x@sha256%3Aabc"}]}]}`
	emptyCDX = `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[
		{"type":"operating-system","name":"alpine","purl":""}]}`
	oneSPDX = `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[
		{"name":"musl","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:apk/alpine/musl@1.2.4"}]}]}`
	oneCDX = `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"musl","purl":"pkg:apk/alpine/musl@1.2.4"}]}`
)

func TestCheck(t *testing.T) {
	spdx, _ := lookup("spdx-json")
	cdx, _ := lookup("cyclonedx-json")
	tests := []struct {
		name    string
		f       Format
		data    string
		pkgs    int
		wantErr string
	}{
		{"spdx with one package", spdx, oneSPDX, 1, ""},
		{"cdx with one package", cdx, oneCDX, 1, ""},
		{"spdx without packages", spdx, emptySPDX, 0, ""},
		{"cdx os component only", cdx, emptyCDX, 0, ""},
		{"not json", spdx, "Error: something went wrong", 0, "not valid SPDX JSON"},
		{"truncated cdx", cdx, oneCDX[:40], 0, "not valid CycloneDX JSON"},
		{"spdx 2.2", spdx, strings.Replace(oneSPDX, "SPDX-2.3", "SPDX-2.2", 1), 0, `declares "SPDX-2.2"`},
		{"cdx 1.7 (syft's default)", cdx, strings.Replace(oneCDX, `"1.6"`, `"1.7"`, 1), 0, "CycloneDX 1.7"},
		{"cdx as spdx", spdx, oneCDX, 0, "not an SPDX document"},
		{"spdx as cdx", cdx, oneSPDX, 0, "not a CycloneDX BOM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Check(tc.f, []byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Packages != tc.pkgs {
				t.Errorf("packages = %d, want %d", s.Packages, tc.pkgs)
			}
		})
	}
}

func TestResult(t *testing.T) {
	fs, _ := FormatsFor([]string{"spdx-json", "cyclonedx-json"})
	cfg := config.Default()

	// An SBOM without packages passes the gate but says so.
	r, err := Result("app.tar", fs, map[string][]byte{"spdx-json": []byte(emptySPDX), "cyclonedx-json": []byte(emptyCDX)})
	if err != nil {
		t.Fatal(err)
	}
	gate.Apply(r, cfg, time.Now())
	if r.Status != model.StatusPass || len(r.Findings) != 1 || r.Findings[0].RuleID != RuleEmpty || r.Findings[0].Severity != model.SeverityInfo {
		t.Fatalf("empty SBOM: status %s findings %+v", r.Status, r.Findings)
	}
	// With fail-on INFO the same SBOM fails: the finding is a real gate input.
	cfg2 := config.Default()
	cfg2.Gate.FailOn = model.SeverityInfo
	r, _ = Result("app.tar", fs, map[string][]byte{"spdx-json": []byte(emptySPDX), "cyclonedx-json": []byte(emptyCDX)})
	gate.Apply(r, cfg2, time.Now())
	if r.Status != model.StatusFail {
		t.Fatalf("fail-on INFO: status %s", r.Status)
	}

	r, err = Result("app.tar", fs, map[string][]byte{"spdx-json": []byte(oneSPDX), "cyclonedx-json": []byte(oneCDX)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 || len(r.Artifacts) != 2 || r.Artifacts[0].Path != "sbom.spdx.json" || r.Artifacts[1].Type != "application/vnd.cyclonedx+json" {
		t.Fatalf("got %+v", r)
	}
	if !strings.Contains(r.Artifacts[0].Name, "1 packages (apk 1)") {
		t.Errorf("artifact name %q lacks the package count", r.Artifacts[0].Name)
	}

	// Garbage or a missing output is syft's failure: a ToolError, exit 3.
	for name, outs := range map[string]map[string][]byte{
		"garbage": {"spdx-json": []byte("panic: runtime error"), "cyclonedx-json": []byte(oneCDX)},
		"missing": {"spdx-json": []byte(oneSPDX)},
	} {
		_, err := Result("app.tar", fs, outs)
		var te *model.ToolError
		if !errors.As(err, &te) || te.Tool != "syft" {
			t.Errorf("%s: want syft ToolError, got %T %v", name, err, err)
		}
	}
}

func TestStageSkipsWithoutImage(t *testing.T) {
	env := testEnv(t, config.Default(), nil)
	res, err := Stage().Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != model.StatusSkipped || !strings.Contains(res.Error, "no image") {
		t.Fatalf("got %+v", res)
	}
}

func TestStageInputPrecedence(t *testing.T) {
	cfg := config.Default()
	cfg.Scan.Image = "scan.tar"
	env := testEnv(t, cfg, nil)
	if got := Input(env); got != "scan.tar" {
		t.Errorf("Input = %q, want scan.image", got)
	}
	cfg.SBOM.Image = "sbom.tar"
	if got := Input(env); got != "sbom.tar" {
		t.Errorf("Input = %q, want sbom.image", got)
	}
	env.Args = []string{"arg.tar"}
	if got := Input(env); got != "arg.tar" {
		t.Errorf("Input = %q, want the argument", got)
	}
}

func TestStageBadInputs(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.tar")
	os.WriteFile(bad, []byte("this is not an image"), 0o644)

	cfg := config.Default()
	cfg.SBOM.Formats = []string{"spdx-json", "swid"}
	cfg.Path = "tollgate.yaml"
	for name, tc := range map[string]struct {
		cfg  *config.Config
		args []string
		file string
	}{
		"corrupt image":  {config.Default(), []string{bad}, bad},
		"unknown format": {cfg, []string{bad}, "tollgate.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			env := testEnv(t, tc.cfg, tc.args)
			_, err := Stage().Run(context.Background(), env)
			var ie *model.InputError
			if !errors.As(err, &ie) || ie.File != tc.file {
				t.Fatalf("want InputError naming %s, got %T %v", tc.file, err, err)
			}
		})
	}
}

func TestExitError(t *testing.T) {
	long := strings.Repeat("x", 5000)
	tests := []struct {
		name, stderr string
		want         []string // substrings of the message
		not          []string
	}{
		{"cause kept", "[0000] INFO starting\n\x1b[31mERROR could not fetch image: dial tcp 127.0.0.1:1: connect: connection refused\x1b[0m\n",
			[]string{"exit 1 describing app:1: ", "connection refused"}, []string{"\x1b", "[31m"}},
		{"no output", "", []string{"no error output"}, nil},
		{"bounded", long + "\nthe cause", []string{"the cause", "…"}, []string{long}},
		{"last lines only", "a\nb\nc\nd\ne\nf\ng", []string{"c\nd\ne\nf\ng"}, []string{"a\n", "b\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ExitError(1, []byte(tc.stderr), "app:1")
			var te *model.ToolError
			if !errors.As(err, &te) || te.Tool != "syft" {
				t.Fatalf("want a syft ToolError, got %T %v", err, err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(msg, n) {
					t.Errorf("message %q contains %q", msg, n)
				}
			}
			if len(msg) > errBytes+200 {
				t.Errorf("message is %d bytes", len(msg))
			}
		})
	}
}
