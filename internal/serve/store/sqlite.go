package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

var sqliteDialect = dialect{name: "sqlite", pk: "INTEGER PRIMARY KEY AUTOINCREMENT"}

// OpenSQLite opens (creating if needed) a SQLite store at path: WAL journal, FULL sync (an
// acknowledged event survives a crash or power loss), immediate write transactions. One
// process owns the file (a lock file beside it); work that process left running when it died
// is given back to the queue at open.
func OpenSQLite(ctx context.Context, path string) (Store, error) {
	if path == "" {
		return nil, errors.New("store: empty SQLite path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: %s is in use by another tollgate serve process (SQLite serves one instance; use PostgreSQL to run several): %w", path, err)
	}
	q := url.Values{}
	// Checkpoints run in the background (below), not inside whichever commit crosses the WAL
	// size limit: that commit would wait for the copy, and an acknowledgement behind it too.
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a few connections let readers run beside it.
	db.SetMaxOpenConns(4)
	stop, stopped := make(chan struct{}), make(chan struct{})
	writeMu := &sync.Mutex{}
	s := &sqlStore{db: db, d: sqliteDialect, writeMu: writeMu}
	s.closeFn = func() error {
		close(stop)
		<-stopped // the last checkpoint has run
		err := db.Close()
		return errors.Join(err, lock.Close()) // the lock last: the file is consistent when another process takes it
	}
	go checkpoints(db, writeMu, stop, stopped)
	if err := migrate(ctx, db, sqliteDialect); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	// This process holds the file lock, so anything still marked running was left by a process
	// that died: give it back now rather than after its lease.
	if _, err := db.ExecContext(ctx, `UPDATE jobs SET lease_until = 0 WHERE state = 'running'`); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: recover jobs: %w", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE notifications SET lease_until = 0 WHERE state = 'sending'`); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: recover notifications: %w", err)
	}
	return s, nil
}

// checkpoints copies the WAL into the database file ten times a second, lets the WAL start over
// once it holds restartFrames frames, and truncates the WAL when the store closes.
func checkpoints(db *sql.DB, writeMu *sync.Mutex, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
			return
		case <-t.C:
			checkpoint(db, writeMu)
		}
	}
}

// restartFrames is the WAL length (8 MB of 4 KiB pages, a few seconds of pushes at 1,000/s)
// from which a checkpoint makes sure the WAL starts over.
const restartFrames = 2048

// checkpoint copies the WAL into the database file beside the writers; once the WAL is
// restartFrames long it finishes the copy with writers held back, so that the next write
// transaction starts the WAL over from its beginning. A passive checkpoint alone never catches
// up with commits arriving every millisecond, and the WAL then only grows (to 60 MB in the
// benchmark): every commit extends the file, so its fsync must also commit the file system's
// journal, which waits for whatever else is being written to that file system (the scanners'
// layers and caches) — acknowledgements of 100 ms to 1 s. A WAL rewritten in place syncs its
// data only. Holding writers back costs a copy of a few pages and two fsyncs, which can stall
// like any fsync: hence only once per restartFrames, not every tick.
func checkpoint(db *sql.DB, writeMu *sync.Mutex) {
	// The bulk of the copy and its fsyncs run beside the writers.
	var busy, frames, copied int
	if err := db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil || frames < restartFrames {
		return
	}
	// What was committed meanwhile is a few pages: copy it with writers held back, so that the
	// checkpoint ends complete.
	writeMu.Lock()
	defer writeMu.Unlock()
	db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
}
