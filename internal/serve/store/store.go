// Package store is tollgate serve's durable state behind one small interface: the images it
// has seen, the job queue, scan results with their SBOMs, and the notification outbox. Two
// backends share the SQL: SQLite (embedded default, one file, WAL) and PostgreSQL (several
// replicas on one queue, jobs claimed with FOR UPDATE SKIP LOCKED).
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Job kinds.
const (
	KindScan   = "scan"   // first scan of a pushed digest: SBOM + vulnerabilities
	KindRescan = "rescan" // re-match of a stored image against a changed DB
)

// Image statuses shown by the API and the page.
const (
	StatusQueued   = "queued"
	StatusScanning = "scanning"
	StatusScanned  = "scanned"
	StatusFailed   = "failed"
)

// ErrNotFound is returned by reads of an image or scan that does not exist.
var ErrNotFound = errors.New("not found")

// Push is one pushed manifest or index, as an ingest endpoint understood it.
type Push struct {
	Registry   string // host[:port] the service pulls from
	Repository string // repository path inside the registry, e.g. team/app
	Digest     string // sha256:...
	Tag        string // "" when pushed by digest
	MediaType  string
	Source     string // distribution, harbor or api
	EventID    string // the sender's event id, when it has one
}

// Ref is the image reference pinned by digest.
func (p Push) Ref() string { return p.Registry + "/" + p.Repository + "@" + p.Digest }

// IngestResult says what happened to one push.
type IngestResult struct {
	ImageID int64
	Queued  bool // a new scan job was queued (false: the digest is already known)
}

// Job is a claimed unit of work.
type Job struct {
	ID       int64
	ImageID  int64
	Kind     string
	Ref      string
	Registry string
	Attempts int // including this one
	Owner    string
}

// Image is a pushed digest and its latest state.
type Image struct {
	ID         int64     `json:"-"`
	Ref        string    `json:"ref"`
	Registry   string    `json:"registry"`
	Repository string    `json:"repository"`
	Digest     string    `json:"digest"`
	Tags       []string  `json:"tags"`
	MediaType  string    `json:"media_type,omitempty"`
	Status     string    `json:"status"`
	LastError  string    `json:"last_error,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
	LastPushed time.Time `json:"last_pushed"`
	Pushes     int64     `json:"pushes"`
	Scan       *Scan     `json:"last_scan,omitempty"` // latest successful scan, without findings and report
}

// Scan is one stored scan result of an image.
type Scan struct {
	ID         int64             `json:"id"`
	ImageID    int64             `json:"-"`
	Kind       string            `json:"kind"`
	StartedAt  time.Time         `json:"started_at"`
	FinishedAt time.Time         `json:"finished_at"`
	Tools      map[string]string `json:"tools"`      // tool name -> version
	DBVersion  string            `json:"db_version"` // vulnerability DB the findings came from
	Platform   string            `json:"platform,omitempty"`
	Counts     map[string]int    `json:"counts"` // severity name -> findings
	Findings   []model.Finding   `json:"findings,omitempty"`
	Report     []byte            `json:"-"` // trivy's raw JSON
}

// SBOM is one stored SBOM document of an image.
type SBOM struct {
	Format  string // spdx-json, cyclonedx-json
	Content []byte
}

// Result is what a finished job stores: the scan, SBOMs (first scans only) and the
// notifications it produced, written in one transaction.
type Result struct {
	Scan          Scan
	SBOMs         []SBOM
	Notifications []Outgoing
}

// Outgoing is a notification to deliver to one target. The pair (scan, target) is unique: the
// idempotency record that keeps a notification from being created twice.
type Outgoing struct {
	Target  string
	Payload []byte
}

// Notification is a claimed delivery.
type Notification struct {
	ID       int64
	ScanID   int64
	ImageID  int64
	Target   string
	Payload  []byte
	Attempts int
}

// Delivery is a notification's record for the API.
type Delivery struct {
	ID          int64     `json:"id"`
	Ref         string    `json:"image"`
	ScanID      int64     `json:"scan_id"`
	Target      string    `json:"target"`
	State       string    `json:"state"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
}

// JobRecord is a job as the API shows it.
type JobRecord struct {
	ID        int64     `json:"id"`
	Ref       string    `json:"image"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Stats are gauges for /metrics and /readyz.
type Stats struct {
	JobsQueued           int
	JobsRunning          int
	JobsFailed           int
	NotificationsPending int
	NotificationsFailed  int
	Images               int
}

// Store is everything the service keeps. Every method is safe for concurrent use, also from
// several processes sharing one PostgreSQL database.
type Store interface {
	// Ingest records pushes durably in one transaction and queues a scan for every digest
	// that has none yet (or whose last scan failed): the same digest under 50 tags is one job.
	Ingest(ctx context.Context, pushes []Push, now time.Time) ([]IngestResult, error)
	// Claim takes the next due job (or one whose owner's lease ran out) for owner; nil when idle.
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration) (*Job, error)
	// Extend renews a running job's lease; it fails when the job is no longer owner's.
	Extend(ctx context.Context, job *Job, now time.Time, lease time.Duration) error
	// Finish stores the result and its notifications and marks the job done, atomically.
	Finish(ctx context.Context, job *Job, res *Result, now time.Time) (scanID int64, err error)
	// Retry puts the job back in the queue after a failed attempt.
	Retry(ctx context.Context, job *Job, errMsg string, runAfter, now time.Time) error
	// Fail records a job that will not be retried.
	Fail(ctx context.Context, job *Job, errMsg string, now time.Time) error
	// Release gives a job back without counting the attempt (graceful shutdown).
	Release(ctx context.Context, job *Job, now time.Time) error
	// QueueRescans queues one rescan for every image with a stored scan and no queued job.
	// With dbVersion set, only images whose latest scan used another DB are queued. reason
	// names the trigger ("db <version>", "schedule <slot>"); an image with a running or failed
	// rescan for the same reason (or, for a schedule slot, a finished one) is left alone, so
	// replicas sharing a database queue each rescan once.
	QueueRescans(ctx context.Context, dbVersion, reason string, now time.Time) (int, error)

	// ClaimNotification takes the next due delivery; nil when none.
	ClaimNotification(ctx context.Context, owner string, now time.Time, lease time.Duration) (*Notification, error)
	// Delivered marks a delivery done.
	Delivered(ctx context.Context, n *Notification, now time.Time) error
	// RetryNotification records a failed attempt and when to try again.
	RetryNotification(ctx context.Context, n *Notification, errMsg string, runAfter, now time.Time) error
	// FailNotification records a delivery that ran out of attempts.
	FailNotification(ctx context.Context, n *Notification, errMsg string, now time.Time) error

	// Images lists images, newest push first.
	Images(ctx context.Context) ([]Image, error)
	// Image reads one image by its pinned reference.
	Image(ctx context.Context, ref string) (*Image, error)
	// LatestScan is the image's newest successful scan with findings and report.
	LatestScan(ctx context.Context, imageID int64) (*Scan, error)
	// SBOM reads one stored SBOM.
	SBOM(ctx context.Context, imageID int64, format string) ([]byte, error)
	// Jobs lists recent jobs (newest first).
	Jobs(ctx context.Context, limit int) ([]JobRecord, error)
	// Deliveries lists recent notification deliveries (newest first).
	Deliveries(ctx context.Context, limit int) ([]Delivery, error)
	// Stats counts queue and outbox rows.
	Stats(ctx context.Context) (Stats, error)
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Open opens the store named by dsn: "postgres://..." or "postgresql://..." for PostgreSQL,
// anything else is a SQLite file path ("sqlite://" prefix optional). Migrations run first.
func Open(ctx context.Context, dsn string) (Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return OpenPostgres(ctx, dsn)
	case dsn == "":
		return nil, errors.New("store: no database configured")
	default:
		return OpenSQLite(ctx, strings.TrimPrefix(dsn, "sqlite://"))
	}
}

// Redact hides a password in a database URL for logs and errors.
func Redact(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return dsn
	}
	user := rest[:at]
	if u, _, hasPass := strings.Cut(user, ":"); hasPass {
		user = u + ":xxxxx"
	}
	return fmt.Sprintf("%s://%s%s", scheme, user, rest[at:])
}
