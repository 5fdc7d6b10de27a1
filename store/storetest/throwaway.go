package storetest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresUser is the account a throwaway server runs as when the tests run
// as root: initdb and postgres refuse to run as root.
const postgresUser = "postgres"

// StartPostgres runs a throwaway PostgreSQL server of its own: a new cluster
// (initdb, trust authentication, no fsync) in a temporary directory, on a
// free loopback port and no Unix socket. It returns the URL of the cluster's
// postgres database as its superuser, postgres. stop shuts the server down
// as `pg_ctl stop -m fast` does (open sessions are ended, new connections
// are refused) and waits for it to exit; restart starts it again on the same
// port with the same data and waits until it accepts connections. The
// server is stopped and its directory removed when the test ends.
//
// The binaries are looked up in the newest /usr/lib/postgresql/*/bin, then
// on PATH. Run as root, the server runs as the postgres account. Without
// the binaries (or that account) the test is skipped, unless CI=true, where
// it fails.
func StartPostgres(tb testing.TB) (url string, stop func(), restart func()) {
	tb.Helper()
	initdb, postgres, err := postgresBinaries()
	if err != nil {
		unavailable(tb, "the PostgreSQL server binaries (initdb and postgres)", err)
	}
	var cred *syscall.Credential
	owner := -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup(postgresUser)
		if err != nil {
			unavailable(tb, "the "+postgresUser+" account (the server does not run as root)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		owner = uid
	}

	// Not t.TempDir: its parent is private to the test's user, and the
	// server's account must reach the directory.
	dir, err := os.MkdirTemp("", "zectre-auth-pg-")
	if err != nil {
		tb.Fatalf("storetest: temporary directory: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if owner >= 0 {
		if err := os.Chown(dir, owner, -1); err != nil {
			tb.Fatalf("storetest: chown %s: %v", dir, err)
		}
	}

	run := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(name, args...)
		c.Dir = dir
		c.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC", "HOME=" + dir}
		if cred != nil {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		return c
	}
	if out, err := run(initdb, "-D", data, "-U", postgresUser, "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		tb.Fatalf("storetest: initdb: %v\n%s", err, out)
	}

	port := strconv.Itoa(freePort(tb))
	url = "postgres://" + postgresUser + "@127.0.0.1:" + port + "/postgres?sslmode=disable"
	var (
		mu   sync.Mutex
		cmd  *exec.Cmd
		done chan struct{}
		log  lockedLog
	)
	stop = func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd == nil {
			return
		}
		// SIGINT is the fast shutdown: sessions are ended, then the server
		// exits.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cmd = nil
	}
	restart = func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd != nil {
			return
		}
		c := run(postgres, "-D", data, "-p", port,
			"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "shared_buffers=16MB", "-c", "max_connections=50")
		c.Stdout, c.Stderr = &log, &log
		if err := c.Start(); err != nil {
			tb.Fatalf("storetest: start postgres: %v", err)
		}
		cmd, done = c, make(chan struct{})
		exited := done
		go func() { _ = c.Wait(); close(exited) }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := pingPostgres(url)
			if err == nil {
				return
			}
			select {
			case <-exited:
				cmd = nil
				tb.Fatalf("storetest: postgres exited at start: %v\n%s", c.ProcessState, log.String())
			default:
			}
			if time.Now().After(deadline) {
				tb.Fatalf("storetest: postgres on port %s does not accept connections: %v\n%s", port, err, log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tb.Cleanup(func() {
		stop()
		if tb.Failed() {
			tb.Logf("storetest: log of the throwaway postgres:\n%s", log.String())
		}
	})
	restart()
	return url, stop, restart
}

// postgresBinaries finds initdb and postgres of one installation: the newest
// under /usr/lib/postgresql (Debian's layout), else on PATH.
func postgresBinaries() (initdb, postgres string, err error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if executable(i) && executable(p) {
			return i, p, nil
		}
	}
	if initdb, err = exec.LookPath("initdb"); err != nil {
		return "", "", err
	}
	// postgres next to initdb, through symbolic links (/usr/local/bin/initdb
	// may point into an installation).
	if real, err := filepath.EvalSymlinks(initdb); err == nil {
		if p := filepath.Join(filepath.Dir(real), "postgres"); executable(p) {
			return initdb, p, nil
		}
	}
	if postgres, err = exec.LookPath("postgres"); err != nil {
		return "", "", err
	}
	return initdb, postgres, nil
}

// version is the major version of a /usr/lib/postgresql/<version>/bin path.
func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func pingPostgres(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// freePort asks the kernel for a free port. Another process could take it
// before the server binds it; tests accept that small risk.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("storetest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func unavailable(tb testing.TB, what string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("storetest: missing %s, which CI=true requires: %v", what, err)
	}
	tb.Skipf("storetest: SKIPPING a throwaway PostgreSQL test: missing %s: %v", what, err)
}

// lockedLog collects the server's output while tests read it.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
