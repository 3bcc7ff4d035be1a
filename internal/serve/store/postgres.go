package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// migrationLockID is the advisory lock that serialises migrations of replicas starting at once.
const migrationLockID = 7468301

var postgresDialect = dialect{
	name:             "postgres",
	pk:               "BIGSERIAL PRIMARY KEY",
	skipLocked:       "FOR UPDATE SKIP LOCKED",
	numbered:         true,
	lockMigrations:   fmt.Sprintf("SELECT pg_advisory_lock(%d)", migrationLockID),
	unlockMigrations: fmt.Sprintf("SELECT pg_advisory_unlock(%d)", migrationLockID),
}

// OpenPostgres opens a PostgreSQL store. Several service instances may share the database:
// jobs and deliveries are claimed with FOR UPDATE SKIP LOCKED under a lease that the owner
// renews, so a crashed instance's work is taken over when its lease runs out. Keep the password
// out of the URL: libpq's PGPASSWORD or PGPASSFILE are read.
func OpenPostgres(ctx context.Context, dsn string) (Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", Redact(dsn), err)
	}
	db.SetMaxOpenConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", Redact(dsn), err)
	}
	if err := migrate(ctx, db, postgresDialect); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", Redact(dsn), err)
	}
	return &sqlStore{db: db, d: postgresDialect}, nil
}
