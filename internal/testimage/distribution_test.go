package testimage

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestDistributionWithAuthAndTakenAddress(t *testing.T) {
	reg, err := StartDistribution(context.Background(), t.TempDir(), DistributionOptions{User: "bot", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	get := func(user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+reg.Host+"/v2/", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if anon, authed, wrong := get("", ""), get("bot", "s3cret"), get("bot", "nope"); anon != 401 || authed != 200 || wrong != 401 {
		t.Fatalf("anonymous %d, right password %d, wrong password %d; want 401, 200, 401", anon, authed, wrong)
	}
	// A fixed address that is taken is an error, never the other registry answering for ours.
	_, err = StartDistribution(context.Background(), t.TempDir(), DistributionOptions{Addr: reg.Host})
	if err == nil || !strings.Contains(err.Error(), "taken") {
		t.Fatalf("second registry on %s: %v", reg.Host, err)
	}
}
