package serve_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/gctune"
	"github.com/tollgate-dev/tollgate/internal/serve/ingest"
	"github.com/tollgate-dev/tollgate/internal/serve/servetest"
)

// benchEnv turns TestBenchServe on (ci/bench-serve.sh sets it): it takes minutes and its
// targets are about speed, so it is not part of the regular suite.
const benchEnv = "TOLLGATE_BENCH_SERVE"

// Targets on 2 cores with SQLite.
const (
	benchEvents     = 10000
	benchDigests    = 20
	benchRescans    = 50
	targetRate      = 1000.0 // events/s
	targetP99       = 50 * time.Millisecond
	targetRescanMax = 0.2 // mean rescan time / mean first-scan time
)

// TestBenchServe measures, on loopback only and with a bounded number of requests, with the
// scans running beside it: ingest of 10,000 Distribution push events for 20 digests (exactly 20
// scans must result) — the sustained rate of 5,000 sent as fast as they are acknowledged, and
// the p99 acknowledge latency of 5,000 sent at the target rate of 1,000/s — then the rescan of
// 50 stored images after a DB change against their first scans.
func TestBenchServe(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skip("benchmark: run ci/bench-serve.sh (sets " + benchEnv + "=1)")
	}
	needFixtures(t)
	// The service as `tollgate serve` runs it: cmd/tollgate sets the GC pace before anything
	// else (internal/gctune), which this test binary does not do by itself.
	gcPercent, memLimit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gcPercent)
	gctune.Apply()
	t.Cleanup(func() { debug.SetGCPercent(gcPercent); debug.SetMemoryLimit(memLimit) })
	dbDir := filepath.Join(t.TempDir(), "trivy-db")
	servetest.BuildDB(t, fx.Advisories, dbDir, time.Now().Add(-time.Hour))
	reg := servetest.StartRegistry(t, "pusher", registryPass)
	var refs []string
	for i := 0; i < benchRescans; i++ {
		refs = append(refs, reg.Push(t, mustVariant(t, 1000+i), "bench/app", fmt.Sprintf("v%d", i)))
	}
	l := listen(t)
	cfg := testConfig(t, t.TempDir(), dbDir, reg.Host, "")
	if v := os.Getenv("TOLLGATE_BENCH_SERVE_NICE"); v != "" {
		n, _ := strconv.Atoi(v)
		cfg.Queue.Nice = &n
	}
	svc := startService(t, cfg, l)

	// Ingest, each event its own request as registries send them, in two halves:
	// throughput: closed loop, 32 senders as fast as the service acknowledges (the sustained
	// rate); latency: open loop at the target rate, 1,000 events/s on a fixed schedule, each
	// latency measured from its scheduled send time (a late send counts against the service).
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	var failures sync.Map
	send := func(i int) {
		ref := refs[i%benchDigests]
		repo, digest, _ := strings.Cut(strings.TrimPrefix(ref, reg.Host+"/"), "@")
		body := fmt.Sprintf(`{"events":[{"id":"bench-%d","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"repository":%q,"tag":"t%d"},"request":{"host":%q}}]}`,
			i, digest, repo, i, reg.Host)
		req, _ := http.NewRequest(http.MethodPost, svc.URL+ingest.PathDistribution, strings.NewReader(body))
		req.Header.Set("Content-Type", ingest.DistributionEnvelope)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil {
			failures.Store(i, err.Error())
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			failures.Store(i, resp.Status)
		}
	}
	const half = benchEvents / 2
	const senders = 32
	closed := make([]time.Duration, half)
	next := make(chan int, half)
	for i := 0; i < half; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				send(i)
				closed[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpuPerEvent := (cpuTime() - cpu0) / half
	rate := float64(half) / elapsed.Seconds()

	open := make([]time.Duration, half)
	interval := time.Second / time.Duration(targetRate)
	begin := time.Now()
	for k := 0; k < half; k++ {
		due := begin.Add(time.Duration(k) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			send(half + k)
			open[k] = time.Since(due)
		}()
	}
	wg.Wait()
	nfail := 0
	failures.Range(func(k, v any) bool { nfail++; return true })
	pct := func(d []time.Duration, p int) time.Duration {
		c := append([]time.Duration(nil), d...)
		sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
		return c[len(c)*p/100]
	}
	p99 := pct(open, 99)
	var slowest time.Duration
	for _, d := range open {
		slowest = max(slowest, d)
	}
	fmt.Printf("ingest throughput: %d events for %d digests from %d senders in %s: %.0f events/s (ack p50 %s, p99 %s at saturation)\n",
		half, benchDigests, senders, elapsed.Round(time.Millisecond), rate, pct(closed, 50).Round(10*time.Microsecond), pct(closed, 99).Round(10*time.Microsecond))
	fmt.Printf("ingest cost: %s of CPU per event (service and load generator in this process, scanners excluded): %.0f events/s per idle core\n",
		cpuPerEvent.Round(time.Microsecond), float64(time.Second)/float64(cpuPerEvent))
	fmt.Printf("ingest latency: %d events at %.0f events/s: ack p50 %s, p99 %s, max %s; %d of %d events not acknowledged\n",
		half, targetRate, pct(open, 50).Round(10*time.Microsecond), p99.Round(10*time.Microsecond), slowest.Round(time.Millisecond), nfail, benchEvents)

	waitScanned(t, svc.URL, 10*time.Minute, "", refs[:benchDigests]...)
	scans := 0
	for _, j := range jobs(t, svc.URL) {
		if j.Kind == "scan" {
			scans++
		}
	}
	fmt.Printf("scans: %d for %d distinct digests\n", scans, benchDigests)

	if os.Getenv(benchEnv) == "ingest" { // the ingest half alone, for profiling
		if rate < targetRate || p99 > targetP99 || scans != benchDigests || nfail > 0 {
			t.Errorf("ingest targets missed")
		}
		return
	}
	// Rescan: the other 30 images get their first scan, then a DB change rescans all 50.
	for _, ref := range refs[benchDigests:] {
		body := `{"image":"` + ref + `"}`
		req, _ := http.NewRequest(http.MethodPost, svc.URL+ingest.PathImages, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %v %v", ref, resp, err)
		}
		resp.Body.Close()
	}
	imgs := waitScanned(t, svc.URL, 15*time.Minute, "", refs...)
	firstDB := imgs[refs[0]].LastScan.DBVersion
	adv := servetest.AdvisoriesWith(t, fx.Advisories, "2022/01/GHSA-29mw-wpgm-hmr9/GHSA-29mw-wpgm-hmr9.json", newAdvisory)
	servetest.BuildDB(t, adv, dbDir, time.Now())
	waitScanned(t, svc.URL, 10*time.Minute, firstDB, refs...)
	m := scrape(t, svc.URL)
	scanSum, scanN := m[`tollgate_serve_scan_duration_seconds_sum{kind="scan",result="done"}`], m[`tollgate_serve_scan_duration_seconds_count{kind="scan",result="done"}`]
	reSum, reN := m[`tollgate_serve_scan_duration_seconds_sum{kind="rescan",result="done"}`], m[`tollgate_serve_scan_duration_seconds_count{kind="rescan",result="done"}`]
	ratio := (reSum / reN) / (scanSum / scanN)
	fmt.Printf("rescan: %.0f first scans, mean %.2fs; %.0f rescans, mean %.2fs; ratio %.3f (target <= %.2f)\n",
		scanN, scanSum/scanN, reN, reSum/reN, ratio, targetRescanMax)

	if scans != benchDigests {
		t.Errorf("%d scans for %d digests, want exactly %d", scans, benchDigests, benchDigests)
	}
	if nfail > 0 {
		t.Errorf("%d events not acknowledged", nfail)
	}
	if rate < targetRate {
		t.Errorf("ingest rate %.0f events/s below the target %.0f", rate, targetRate)
	}
	if p99 > targetP99 {
		t.Errorf("p99 acknowledge latency %s above the target %s", p99, targetP99)
	}
	if ratio > targetRescanMax {
		t.Errorf("rescan/first-scan ratio %.3f above the target %.2f", ratio, targetRescanMax)
	}
}

// scrape reads /metrics into name{labels} -> value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, b := get(t, base, "/metrics", secret)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndex(line, " ")
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
