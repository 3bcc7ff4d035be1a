package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// ErrLeaseLost means the job or delivery is no longer this owner's (its lease ran out and
// another worker took it): the caller must drop its result.
var ErrLeaseLost = errors.New("lease lost: another worker owns this job now")

// dialect is what differs between SQLite and PostgreSQL.
type dialect struct {
	name             string
	pk               string
	skipLocked       string // appended to the claim's inner SELECT
	numbered         bool   // $1 placeholders instead of ?
	lockMigrations   string
	unlockMigrations string
}

func (d dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqlStore implements Store on database/sql for both dialects.
type sqlStore struct {
	db      *sql.DB
	d       dialect
	closeFn func() error
	stmts   sync.Map // query -> *sql.Stmt, prepared once (the hot ingest path)
	// writeMu serialises write transactions in this process (SQLite: one process owns the
	// file). Without it, a writer that finds the database locked sleeps in SQLite's busy
	// handler for up to 100ms at a time, which shows in the acknowledge latency. nil for
	// PostgreSQL, which has row locks.
	writeMu *sync.Mutex
}

func nowMillis() int64 { return time.Now().UnixMilli() }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (s *sqlStore) q(query string) string { return s.d.rebind(query) }

// prepared returns query prepared once for the store, bound to tx: parsing SQL is a large part
// of a small transaction's cost.
func (s *sqlStore) prepared(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if v, ok := s.stmts.Load(query); ok {
		return tx.StmtContext(ctx, v.(*sql.Stmt)), nil
	}
	st, err := s.db.PrepareContext(ctx, s.q(query))
	if err != nil {
		return nil, err
	}
	if v, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		st = v.(*sql.Stmt)
	}
	return tx.StmtContext(ctx, st), nil
}

// inTx runs fn in a transaction and commits it.
func (s *sqlStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.writeMu != nil {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (s *sqlStore) Ingest(ctx context.Context, pushes []Push, now time.Time) ([]IngestResult, error) {
	out := make([]IngestResult, len(pushes))
	t := ms(now)
	// A batch often names one digest many times (one push under many tags, or a burst of
	// notifications): write each image, tag and job once, and every event row in bulk.
	type group struct {
		p     Push
		count int
		tags  []string
		idx   []int
	}
	var groups []*group
	byRef := map[string]*group{}
	for i, p := range pushes {
		g := byRef[p.Ref()]
		if g == nil {
			g = &group{p: p}
			byRef[p.Ref()] = g
			groups = append(groups, g)
		}
		g.count++
		g.idx = append(g.idx, i)
		if p.Tag != "" {
			g.tags = append(g.tags, p.Tag)
		}
		if g.p.MediaType == "" {
			g.p.MediaType = p.MediaType
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		upsert, err := s.prepared(ctx, tx, `INSERT INTO images (ref, registry, repository, digest, media_type, status, first_seen, last_pushed, pushes)
			VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)
			ON CONFLICT (ref) DO UPDATE SET last_pushed = excluded.last_pushed, pushes = images.pushes + excluded.pushes,
				media_type = CASE WHEN images.media_type = '' THEN excluded.media_type ELSE images.media_type END
			RETURNING id`)
		if err != nil {
			return err
		}
		tag, err := s.prepared(ctx, tx, `INSERT INTO tags (image_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		// A scan is queued unless the digest has a pending, running or finished scan; a
		// digest whose scans all failed is tried again on its next push.
		job, err := s.prepared(ctx, tx, `INSERT INTO jobs (image_id, kind, state, attempts, run_after, created_at, updated_at, reason)
			SELECT ?, 'scan', 'queued', 0, ?, ?, ?, 'push' WHERE NOT EXISTS (
				SELECT 1 FROM jobs WHERE image_id = ? AND state IN ('queued', 'running', 'done'))
			ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		event, err := s.prepared(ctx, tx, `INSERT INTO events (image_id, source, event_id, tag, received_at) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		ids := map[string]int64{}
		for _, g := range groups {
			p := g.p
			var id int64
			if err := upsert.QueryRowContext(ctx, p.Ref(), p.Registry, p.Repository, p.Digest, p.MediaType, t, t, g.count).Scan(&id); err != nil {
				return fmt.Errorf("record %s: %w", p.Ref(), err)
			}
			ids[p.Ref()] = id
			seen := map[string]bool{}
			for _, tg := range g.tags {
				if seen[tg] {
					continue
				}
				seen[tg] = true
				if _, err := tag.ExecContext(ctx, id, tg); err != nil {
					return fmt.Errorf("record tag of %s: %w", p.Ref(), err)
				}
			}
			res, err := job.ExecContext(ctx, id, t, t, t, id)
			if err != nil {
				return fmt.Errorf("queue %s: %w", p.Ref(), err)
			}
			n, _ := res.RowsAffected()
			for k, i := range g.idx {
				out[i] = IngestResult{ImageID: id, Queued: n > 0 && k == 0}
			}
			if n > 0 {
				if _, err := tx.ExecContext(ctx, s.q(`UPDATE images SET status = 'queued' WHERE id = ? AND status = 'failed'`), id); err != nil {
					return err
				}
			}
		}
		for _, p := range pushes {
			if _, err := event.ExecContext(ctx, ids[p.Ref()], p.Source, p.EventID, p.Tag, t); err != nil {
				return fmt.Errorf("record event: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: ingest: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Claim(ctx context.Context, owner string, now time.Time, lease time.Duration) (*Job, error) {
	t := ms(now)
	var j Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// One job per image at a time: a queued rescan waits while its image's scan runs.
		err := tx.QueryRowContext(ctx, s.q(`UPDATE jobs SET state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = (
				SELECT id FROM jobs j
				WHERE ((j.state = 'queued' AND j.run_after <= ?) OR (j.state = 'running' AND j.lease_until < ?))
				AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.image_id = j.image_id AND r.id <> j.id AND r.state = 'running' AND r.lease_until >= ?)
				ORDER BY j.run_after, j.id LIMIT 1 `+s.d.skipLocked+`)
			AND (state = 'queued' OR lease_until < ?)
			RETURNING id, image_id, kind, attempts`), owner, t+lease.Milliseconds(), t, t, t, t, t).Scan(&j.ID, &j.ImageID, &j.Kind, &j.Attempts)
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT ref, registry FROM images WHERE id = ?`), j.ImageID).Scan(&j.Ref, &j.Registry); err != nil {
			return err
		}
		if j.Kind == KindScan {
			_, err = tx.ExecContext(ctx, s.q(`UPDATE images SET status = 'scanning' WHERE id = ?`), j.ImageID)
		}
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: claim job: %w", err)
	}
	j.Owner = owner
	return &j, nil
}

// exec runs one write statement in its own transaction and returns the rows it changed.
func (s *sqlStore) exec(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(query), args...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

func (s *sqlStore) Extend(ctx context.Context, job *Job, now time.Time, lease time.Duration) error {
	n, err := s.exec(ctx, `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND owner = ? AND state = 'running'`,
		ms(now)+lease.Milliseconds(), ms(now), job.ID, job.Owner)
	if err != nil {
		return fmt.Errorf("store: extend lease: %w", err)
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// ownJob updates the job only while owner still holds it.
func (s *sqlStore) ownJob(ctx context.Context, tx *sql.Tx, job *Job, set string, args ...any) error {
	args = append(args, job.ID, job.Owner)
	res, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET `+set+` WHERE id = ? AND owner = ? AND state = 'running'`), args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLeaseLost
	}
	return nil
}

func (s *sqlStore) Finish(ctx context.Context, job *Job, res *Result, now time.Time) (int64, error) {
	t := ms(now)
	sc := res.Scan
	tools, _ := json.Marshal(sc.Tools)
	counts, _ := json.Marshal(sc.Counts)
	findings := sc.Findings
	if findings == nil {
		findings = []model.Finding{}
	}
	fj, err := json.Marshal(findings)
	if err != nil {
		return 0, fmt.Errorf("store: encode findings: %w", err)
	}
	var scanID int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ownJob(ctx, tx, job, `state = 'done', last_error = '', updated_at = ?`, t); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`INSERT INTO scans (image_id, job_id, kind, started_at, finished_at, tools, db_version, platform, counts, findings, report)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			job.ImageID, job.ID, job.Kind, ms(sc.StartedAt), ms(sc.FinishedAt), string(tools), sc.DBVersion, sc.Platform, string(counts), string(fj), string(sc.Report)).Scan(&scanID); err != nil {
			return err
		}
		for _, sb := range res.SBOMs {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sboms (image_id, format, content) VALUES (?, ?, ?)
				ON CONFLICT (image_id, format) DO UPDATE SET content = excluded.content`), job.ImageID, sb.Format, string(sb.Content)); err != nil {
				return err
			}
		}
		for _, n := range res.Notifications {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO notifications (scan_id, image_id, target, state, payload, run_after, created_at)
				VALUES (?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (scan_id, target) DO NOTHING`), scanID, job.ImageID, n.Target, string(n.Payload), t, t); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE images SET status = 'scanned', last_error = '', last_scan_id = ? WHERE id = ?`), scanID, job.ImageID)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			return 0, err
		}
		return 0, fmt.Errorf("store: finish job %d: %w", job.ID, err)
	}
	return scanID, nil
}

func (s *sqlStore) Retry(ctx context.Context, job *Job, errMsg string, runAfter, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ownJob(ctx, tx, job, `state = 'queued', owner = NULL, run_after = ?, last_error = ?, updated_at = ?`, ms(runAfter), errMsg, ms(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE images SET status = CASE WHEN last_scan_id IS NULL THEN 'queued' ELSE status END, last_error = ? WHERE id = ?`), errMsg, job.ImageID)
		return err
	})
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		return fmt.Errorf("store: retry job %d: %w", job.ID, err)
	}
	return err
}

func (s *sqlStore) Fail(ctx context.Context, job *Job, errMsg string, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ownJob(ctx, tx, job, `state = 'failed', owner = NULL, last_error = ?, updated_at = ?`, errMsg, ms(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE images SET status = CASE WHEN last_scan_id IS NULL THEN 'failed' ELSE 'scanned' END, last_error = ? WHERE id = ?`), errMsg, job.ImageID)
		return err
	})
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		return fmt.Errorf("store: fail job %d: %w", job.ID, err)
	}
	return err
}

func (s *sqlStore) Release(ctx context.Context, job *Job, now time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.ownJob(ctx, tx, job, `state = 'queued', owner = NULL, attempts = attempts - 1, updated_at = ?`, ms(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE images SET status = 'queued' WHERE id = ? AND last_scan_id IS NULL`), job.ImageID)
		return err
	})
	if err != nil && !errors.Is(err, ErrLeaseLost) {
		return fmt.Errorf("store: release job %d: %w", job.ID, err)
	}
	return err
}

func (s *sqlStore) QueueRescans(ctx context.Context, dbVersion, reason string, now time.Time) (int, error) {
	t := ms(now)
	n, err := s.exec(ctx, `INSERT INTO jobs (image_id, kind, state, attempts, run_after, created_at, updated_at, reason)
		SELECT i.id, 'rescan', 'queued', 0, ?, ?, ?, ? FROM images i JOIN scans s ON s.id = i.last_scan_id
		WHERE (? = '' OR s.db_version <> ?)
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.image_id = i.id AND (j.state = 'queued'
			OR (j.kind = 'rescan' AND j.reason = ? AND (j.state IN ('running', 'failed') OR ? = ''))))
		ON CONFLICT DO NOTHING`, t, t, t, reason, dbVersion, dbVersion, reason, dbVersion)
	if err != nil {
		return 0, fmt.Errorf("store: queue rescans: %w", err)
	}
	return int(n), nil
}

func (s *sqlStore) ClaimNotification(ctx context.Context, owner string, now time.Time, lease time.Duration) (*Notification, error) {
	t := ms(now)
	var n Notification
	var payload string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, s.q(`UPDATE notifications SET state = 'sending', owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE id = (
			SELECT id FROM notifications
			WHERE (state = 'pending' AND run_after <= ?) OR (state = 'sending' AND lease_until < ?)
			ORDER BY run_after, id LIMIT 1 `+s.d.skipLocked+`)
		AND (state = 'pending' OR lease_until < ?)
		RETURNING id, scan_id, image_id, target, payload, attempts`), owner, t+lease.Milliseconds(), t, t, t).
			Scan(&n.ID, &n.ScanID, &n.ImageID, &n.Target, &payload, &n.Attempts)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: claim notification: %w", err)
	}
	n.Payload = []byte(payload)
	return &n, nil
}

func (s *sqlStore) ownNotification(ctx context.Context, n *Notification, set string, args ...any) error {
	args = append(args, n.ID)
	c, err := s.exec(ctx, `UPDATE notifications SET `+set+` WHERE id = ? AND state = 'sending'`, args...)
	if err != nil {
		return fmt.Errorf("store: notification %d: %w", n.ID, err)
	}
	if c == 0 {
		return ErrLeaseLost
	}
	return nil
}

func (s *sqlStore) Delivered(ctx context.Context, n *Notification, now time.Time) error {
	return s.ownNotification(ctx, n, `state = 'delivered', owner = NULL, last_error = '', delivered_at = ?`, ms(now))
}

func (s *sqlStore) RetryNotification(ctx context.Context, n *Notification, errMsg string, runAfter, now time.Time) error {
	return s.ownNotification(ctx, n, `state = 'pending', owner = NULL, last_error = ?, run_after = ?`, errMsg, ms(runAfter))
}

func (s *sqlStore) FailNotification(ctx context.Context, n *Notification, errMsg string, now time.Time) error {
	return s.ownNotification(ctx, n, `state = 'failed', owner = NULL, last_error = ?`, errMsg)
}

const imageColumns = `i.id, i.ref, i.registry, i.repository, i.digest, i.media_type, i.status, i.last_error, i.first_seen, i.last_pushed, i.pushes,
	s.id, s.kind, s.started_at, s.finished_at, s.tools, s.db_version, s.platform, s.counts`

func scanImage(row interface{ Scan(...any) error }) (*Image, error) {
	var im Image
	var first, last int64
	var sid sql.NullInt64
	var kind, tools, dbv, platform, counts sql.NullString
	var started, finished sql.NullInt64
	if err := row.Scan(&im.ID, &im.Ref, &im.Registry, &im.Repository, &im.Digest, &im.MediaType, &im.Status, &im.LastError, &first, &last, &im.Pushes,
		&sid, &kind, &started, &finished, &tools, &dbv, &platform, &counts); err != nil {
		return nil, err
	}
	im.FirstSeen, im.LastPushed = fromMs(first), fromMs(last)
	im.Tags = []string{}
	if sid.Valid {
		sc := &Scan{ID: sid.Int64, ImageID: im.ID, Kind: kind.String, StartedAt: fromMs(started.Int64), FinishedAt: fromMs(finished.Int64),
			DBVersion: dbv.String, Platform: platform.String}
		json.Unmarshal([]byte(tools.String), &sc.Tools)
		json.Unmarshal([]byte(counts.String), &sc.Counts)
		im.Scan = sc
	}
	return &im, nil
}

func (s *sqlStore) tags(ctx context.Context, ids []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	query, args := `SELECT image_id, tag FROM tags ORDER BY tag`, []any(nil)
	if len(ids) == 1 {
		query, args = s.q(`SELECT image_id, tag FROM tags WHERE image_id = ? ORDER BY tag`), []any{ids[0]}
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for rows.Next() {
		var id int64
		var tag string
		if err := rows.Scan(&id, &tag); err != nil {
			return nil, err
		}
		if want[id] {
			out[id] = append(out[id], tag)
		}
	}
	return out, rows.Err()
}

func (s *sqlStore) Images(ctx context.Context) ([]Image, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+imageColumns+` FROM images i LEFT JOIN scans s ON s.id = i.last_scan_id ORDER BY i.repository, i.last_pushed DESC, i.id`)
	if err != nil {
		return nil, fmt.Errorf("store: list images: %w", err)
	}
	defer rows.Close()
	var out []Image
	var ids []int64
	for rows.Next() {
		im, err := scanImage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list images: %w", err)
		}
		out = append(out, *im)
		ids = append(ids, im.ID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list images: %w", err)
	}
	tags, err := s.tags(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("store: list tags: %w", err)
	}
	for i := range out {
		if t := tags[out[i].ID]; t != nil {
			out[i].Tags = t
		}
	}
	return out, nil
}

func (s *sqlStore) Image(ctx context.Context, ref string) (*Image, error) {
	im, err := scanImage(s.db.QueryRowContext(ctx, s.q(`SELECT `+imageColumns+` FROM images i LEFT JOIN scans s ON s.id = i.last_scan_id WHERE i.ref = ?`), ref))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read image: %w", err)
	}
	tags, err := s.tags(ctx, []int64{im.ID})
	if err != nil {
		return nil, fmt.Errorf("store: read tags: %w", err)
	}
	if t := tags[im.ID]; t != nil {
		im.Tags = t
	}
	return im, nil
}

func (s *sqlStore) LatestScan(ctx context.Context, imageID int64) (*Scan, error) {
	var sc Scan
	var started, finished int64
	var tools, counts, findings, report string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, kind, started_at, finished_at, tools, db_version, platform, counts, findings, report
		FROM scans WHERE image_id = ? ORDER BY id DESC LIMIT 1`), imageID).
		Scan(&sc.ID, &sc.Kind, &started, &finished, &tools, &sc.DBVersion, &sc.Platform, &counts, &findings, &report)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read scan: %w", err)
	}
	sc.ImageID = imageID
	sc.StartedAt, sc.FinishedAt = fromMs(started), fromMs(finished)
	if err := json.Unmarshal([]byte(tools), &sc.Tools); err != nil {
		return nil, fmt.Errorf("store: scan %d tools: %w", sc.ID, err)
	}
	if err := json.Unmarshal([]byte(counts), &sc.Counts); err != nil {
		return nil, fmt.Errorf("store: scan %d counts: %w", sc.ID, err)
	}
	if err := json.Unmarshal([]byte(findings), &sc.Findings); err != nil {
		return nil, fmt.Errorf("store: scan %d findings: %w", sc.ID, err)
	}
	sc.Report = []byte(report)
	return &sc, nil
}

func (s *sqlStore) SBOM(ctx context.Context, imageID int64, format string) ([]byte, error) {
	var content string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT content FROM sboms WHERE image_id = ? AND format = ?`), imageID, format).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read SBOM: %w", err)
	}
	return []byte(content), nil
}

func (s *sqlStore) Jobs(ctx context.Context, limit int) ([]JobRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT j.id, i.ref, j.kind, j.state, j.attempts, j.last_error, COALESCE(j.owner, ''), j.created_at, j.updated_at
		FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY j.id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list jobs: %w", err)
	}
	defer rows.Close()
	out := []JobRecord{}
	for rows.Next() {
		var j JobRecord
		var c, u int64
		if err := rows.Scan(&j.ID, &j.Ref, &j.Kind, &j.State, &j.Attempts, &j.LastError, &j.Owner, &c, &u); err != nil {
			return nil, fmt.Errorf("store: list jobs: %w", err)
		}
		j.CreatedAt, j.UpdatedAt = fromMs(c), fromMs(u)
		out = append(out, j)
	}
	return out, rows.Err()
}

func (s *sqlStore) Deliveries(ctx context.Context, limit int) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT n.id, i.ref, n.scan_id, n.target, n.state, n.attempts, n.last_error, n.created_at, n.delivered_at
		FROM notifications n JOIN images i ON i.id = n.image_id ORDER BY n.id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list notifications: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		var c, del int64
		if err := rows.Scan(&d.ID, &d.Ref, &d.ScanID, &d.Target, &d.State, &d.Attempts, &d.LastError, &c, &del); err != nil {
			return nil, fmt.Errorf("store: list notifications: %w", err)
		}
		d.CreatedAt, d.DeliveredAt = fromMs(c), fromMs(del)
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *sqlStore) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	rows, err := s.db.QueryContext(ctx, `SELECT 'j', state, COUNT(*) FROM jobs WHERE state IN ('queued', 'running', 'failed') GROUP BY state
		UNION ALL SELECT 'n', state, COUNT(*) FROM notifications WHERE state IN ('pending', 'sending', 'failed') GROUP BY state
		UNION ALL SELECT 'i', '', COUNT(*) FROM images`)
	if err != nil {
		return st, fmt.Errorf("store: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, state string
		var n int
		if err := rows.Scan(&table, &state, &n); err != nil {
			return st, fmt.Errorf("store: stats: %w", err)
		}
		switch table + "/" + state {
		case "j/queued":
			st.JobsQueued = n
		case "j/running":
			st.JobsRunning = n
		case "j/failed":
			st.JobsFailed = n
		case "n/pending", "n/sending":
			st.NotificationsPending += n
		case "n/failed":
			st.NotificationsFailed = n
		case "i/":
			st.Images = n
		}
	}
	return st, rows.Err()
}

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *sqlStore) Close() error {
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	if s.closeFn != nil {
		return s.closeFn() // SQLite: last checkpoint, the database, then the file lock
	}
	return s.db.Close()
}

// SortedSeverities lists count keys most severe first, for stable output.
func SortedSeverities(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := model.ParseSeverity(keys[i])
		b, _ := model.ParseSeverity(keys[j])
		return a > b
	})
	return keys
}
