package ingest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
)

// BenchmarkIngestDistribution posts one-event Distribution envelopes for 20 digests from
// parallel clients through the real handler, batcher and SQLite store (ci/bench-serve.sh
// measures the whole service; this isolates the ingest path for profiling).
func BenchmarkIngestDistribution(b *testing.B) {
	t := &testing.T{}
	srv, _ := server(t, nil)
	b.SetParallelism(4)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			d := fmt.Sprintf("sha256:%064x", i%20)
			body := `{"events":[{"id":"e","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + d + `","repository":"team/app","tag":"t` + fmt.Sprint(i) + `"},"request":{"host":"127.0.0.1:5000"}}]}`
			req, _ := http.NewRequest(http.MethodPost, srv.URL+ingest.PathDistribution, strings.NewReader(body))
			req.Header.Set("Content-Type", ingest.DistributionEnvelope)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
