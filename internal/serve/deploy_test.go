package serve_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tollgate-dev/tollgate/internal/cli"
	"github.com/tollgate-dev/tollgate/internal/serve/config"
)

// TestDeployManifests runs Tollgate's own gates on deploy/ (what `go run ./cmd/tollgate run
// deploy/` does) and checks the service config shipped in its ConfigMap is valid.
func TestDeployManifests(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), []string{"run", "../../deploy", "--out", "", "--progress", "none"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("tollgate run deploy/ exited %d:\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "validate  PASS") || !strings.Contains(stdout.String(), "score     PASS") {
		t.Fatalf("both gates must run and pass:\n%s", stdout.String())
	}
	b, err := os.ReadFile("../../deploy/k8s/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("deploy/k8s/configmap.yaml#serve.yaml", []byte(cm.Data["serve.yaml"]))
	if err != nil {
		t.Fatalf("the shipped serve config is invalid: %v", err)
	}
	if c.Auth.Disabled || !strings.HasPrefix(c.Database, "postgres://") || len(c.Notify.Targets) == 0 {
		t.Fatalf("shipped config: %+v", c)
	}
}
