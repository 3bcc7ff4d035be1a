package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// migrations are applied in order, each once, in its own transaction; the version is recorded
// in schema_migrations. Never edit a released migration: add the next one. {{PK}} becomes the
// dialect's auto-increment primary key. Times are Unix milliseconds (BIGINT) in both dialects.
var migrations = []string{
	// 1: images, tags, events, jobs, scans, SBOMs, notification outbox.
	`CREATE TABLE images (
		id {{PK}},
		ref TEXT NOT NULL UNIQUE,
		registry TEXT NOT NULL,
		repository TEXT NOT NULL,
		digest TEXT NOT NULL,
		media_type TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL,
		last_error TEXT NOT NULL DEFAULT '',
		first_seen BIGINT NOT NULL,
		last_pushed BIGINT NOT NULL,
		pushes BIGINT NOT NULL DEFAULT 0,
		last_scan_id BIGINT
	);
	CREATE TABLE tags (
		image_id BIGINT NOT NULL REFERENCES images(id),
		tag TEXT NOT NULL,
		PRIMARY KEY (image_id, tag)
	);
	CREATE TABLE events (
		id {{PK}},
		image_id BIGINT NOT NULL REFERENCES images(id),
		source TEXT NOT NULL,
		event_id TEXT NOT NULL DEFAULT '',
		tag TEXT NOT NULL DEFAULT '',
		received_at BIGINT NOT NULL
	);
	CREATE TABLE jobs (
		id {{PK}},
		image_id BIGINT NOT NULL REFERENCES images(id),
		kind TEXT NOT NULL,
		state TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		run_after BIGINT NOT NULL,
		owner TEXT,
		lease_until BIGINT NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		reason TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE UNIQUE INDEX jobs_one_queued ON jobs (image_id) WHERE state = 'queued';
	CREATE INDEX jobs_due ON jobs (state, run_after);
	CREATE INDEX jobs_image ON jobs (image_id, state);
	CREATE TABLE scans (
		id {{PK}},
		image_id BIGINT NOT NULL REFERENCES images(id),
		job_id BIGINT NOT NULL,
		kind TEXT NOT NULL,
		started_at BIGINT NOT NULL,
		finished_at BIGINT NOT NULL,
		tools TEXT NOT NULL,
		db_version TEXT NOT NULL,
		platform TEXT NOT NULL DEFAULT '',
		counts TEXT NOT NULL,
		findings TEXT NOT NULL,
		report TEXT NOT NULL
	);
	CREATE UNIQUE INDEX scans_job ON scans (job_id);
	CREATE INDEX scans_image ON scans (image_id, id);
	CREATE TABLE sboms (
		image_id BIGINT NOT NULL REFERENCES images(id),
		format TEXT NOT NULL,
		content TEXT NOT NULL,
		PRIMARY KEY (image_id, format)
	);
	CREATE TABLE notifications (
		id {{PK}},
		scan_id BIGINT NOT NULL REFERENCES scans(id),
		image_id BIGINT NOT NULL REFERENCES images(id),
		target TEXT NOT NULL,
		state TEXT NOT NULL,
		payload TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		run_after BIGINT NOT NULL,
		owner TEXT,
		lease_until BIGINT NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		delivered_at BIGINT NOT NULL DEFAULT 0,
		UNIQUE (scan_id, target)
	);
	CREATE INDEX notifications_due ON notifications (state, run_after);`,
}

// SchemaVersion is the newest schema this build knows.
func SchemaVersion() int { return len(migrations) }

// migrate applies the missing migrations. lock serialises concurrent starters (PostgreSQL
// advisory lock; SQLite holds its own file lock already).
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if d.lockMigrations != "" {
		if _, err := conn.ExecContext(ctx, d.lockMigrations); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), d.unlockMigrations)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: the database is at schema version %d, newer than this tollgate knows (%d): run a newer tollgate", current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		stmts := strings.ReplaceAll(migrations[v-1], "{{PK}}", d.pk)
		for _, stmt := range strings.Split(stmts, ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate to %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, nowMillis()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
	}
	return nil
}
