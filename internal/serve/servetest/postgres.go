package servetest

import (
	"database/sql"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Postgres starts a throwaway PostgreSQL server from Debian's package (installed when missing)
// on 127.0.0.1 and returns a DSN for a fresh database. Root cannot run postgres, so as root the
// server runs as the unprivileged user nobody.
func Postgres(t testing.TB) string {
	t.Helper()
	initdb := NeedPackage(t, "postgresql", "/usr/lib/postgresql/*/bin/initdb")
	bin := filepath.Dir(initdb)
	base, err := os.MkdirTemp("", "tollgate-pg-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	data, sock := filepath.Join(base, "data"), filepath.Join(base, "sock")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Fatalf("postgres needs an unprivileged user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{data, sock} {
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			os.Chown(d, uid, gid)
		}
	}
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "LANG=C", "LC_ALL=C", "HOME=" + base}
	cmd := exec.Command(initdb, "-D", data, "-U", "tollgate", "-A", "trust", "-E", "UTF8", "--no-sync")
	cmd.Env, cmd.SysProcAttr = env, &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, tail(out, 20))
	}
	port := FreePort(t)
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", itoa(port), "-k", sock,
		"-c", "fsync=off", "-c", "max_connections=100", "-c", "shared_buffers=32MB")
	srv.Env, srv.SysProcAttr = env, &syscall.SysProcAttr{Credential: cred}
	p := start(t, srv, filepath.Join(base, "postgres.log"))
	t.Cleanup(p.stop)
	dsn := "postgres://tollgate@127.0.0.1:" + itoa(port) + "/postgres?sslmode=disable"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.exited() {
			t.Fatalf("postgres exited:\n%s", p.logTail())
		}
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not come up: %v\n%s", err, p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return dsn
}
