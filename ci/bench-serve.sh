#!/usr/bin/env bash
# Benchmark of `tollgate serve` (loopback only, bounded, stops by itself):
#  - ingest: 10,000 Distribution push events for 20 distinct digests, scans running beside it;
#    5,000 from 32 concurrent senders as fast as they are acknowledged give the sustained rate
#    (target >= 1,000 events/s), 5,000 sent on a fixed schedule at 1,000 events/s give the p99
#    acknowledge latency at that rate (target <= 50 ms; measured from each scheduled send time);
#    exactly 20 scans must result (targets on 2 cores with SQLite);
#  - rescan: 50 stored images rescanned after a DB change vs their first scans, printed as a
#    ratio of mean durations (target <= 0.2).
# Exits non-zero when a target is missed. Needs the pinned trivy and syft (installed first) and
# Debian's docker-registry (the test installs it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./cmd/tollgate tools install trivy syft >&2
TOLLGATE_BENCH_SERVE=1 exec go test ./internal/serve/ -run '^TestBenchServe$' -count=1 -timeout 45m -v
