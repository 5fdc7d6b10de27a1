package cachetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// StartSentinel starts a throwaway master and one Sentinel monitoring it as
// SentinelMaster (quorum 1), each on a free loopback port in a temporary
// directory, and returns the URL that reaches the master through the
// Sentinel: redis://[:password@]127.0.0.1:PORT?master_set=zectre-test.
// A non-empty password is the master's requirepass; with sentinelAuth the
// Sentinel requires it too. Both are killed when the test ends. Without
// redis-server the test is skipped, unless CI=true, where it fails.
func StartSentinel(tb testing.TB, password string, sentinelAuth bool) string {
	tb.Helper()
	return startSentinel(tb, password, sentinelAuth, false).URL
}

// SentinelGroup is a master, one replica of it and a Sentinel watching
// both, for failover drills: all on loopback, killed when the test ends.
type SentinelGroup struct {
	// URL reaches the current master through the Sentinel.
	URL string
	// Master and Replica are the servers' host:port at the start.
	Master, Replica string

	password string
	master   *exec.Cmd
	sentinel rueidis.Client
	logs     []string
}

// StartSentinelGroup starts a master with requirepass password, a replica
// of it, and a Sentinel that declares a master down after 500 ms without an
// answer and then promotes the replica. It returns once the replica is in
// sync and the Sentinel knows it. Without redis-server the test is skipped,
// unless CI=true, where it fails.
func StartSentinelGroup(tb testing.TB, password string) *SentinelGroup {
	tb.Helper()
	return startSentinel(tb, password, false, true)
}

func startSentinel(tb testing.TB, password string, sentinelAuth, withReplica bool) *SentinelGroup {
	tb.Helper()
	server := binary(tb, "redis-server", redisServer)
	g := &SentinelGroup{password: password}

	start := func(extra ...string) (addr string, cmd *exec.Cmd, client rueidis.Client) {
		dir, port := tb.TempDir(), freePort(tb)
		addr = "127.0.0.1:" + strconv.Itoa(port)
		log := filepath.Join(dir, "redis.log")
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--logfile", log, "--save", "", "--appendonly", "no", "--protected-mode", "no"}
		if password != "" {
			args = append(args, "--requirepass", password, "--masterauth", password)
		}
		cmd = startProcess(tb, server, dir, append(args, extra...)...)
		g.logs = append(g.logs, log)
		return addr, cmd, nodeClient(tb, addr, password, log)
	}
	var mport string
	g.Master, g.master, _ = start()
	_, mport, _ = net.SplitHostPort(g.Master)
	if withReplica {
		var replica rueidis.Client
		g.Replica, _, replica = start("--replicaof", "127.0.0.1", mport)
		waitUntil(tb, "the replica is in sync", func() error {
			info, err := replica.Do(context.Background(), replica.B().Info().Section("replication").Build()).ToString()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("replica: %s", strings.Join(strings.Fields(info), " "))
			}
			return nil
		}, g.logs...)
	}

	sdir, sport := tb.TempDir(), freePort(tb)
	saddr := "127.0.0.1:" + strconv.Itoa(sport)
	sentinelLog := filepath.Join(sdir, "sentinel.log")
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\nlogfile %s\n"+
		"sentinel monitor %s 127.0.0.1 %s 1\n", sport, sdir, sentinelLog, SentinelMaster, mport)
	if withReplica {
		conf += fmt.Sprintf("sentinel down-after-milliseconds %[1]s 500\nsentinel failover-timeout %[1]s 5000\n", SentinelMaster)
	}
	if password != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", SentinelMaster, password)
		if sentinelAuth {
			conf += "requirepass " + password + "\n"
		}
	}
	// A Sentinel rewrites its configuration file: it must be writable.
	confPath := filepath.Join(sdir, "sentinel.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		tb.Fatalf("cachetest: write sentinel.conf: %v", err)
	}
	startProcess(tb, server, sdir, confPath, "--sentinel")
	g.logs = append(g.logs, sentinelLog)
	spass := ""
	if sentinelAuth {
		spass = password
	}
	g.sentinel = nodeClient(tb, saddr, spass, sentinelLog)
	waitUntil(tb, "sentinel knows the master", func() error {
		if got := g.currentMaster(); got != g.Master {
			return fmt.Errorf("sentinel names master %q", got)
		}
		return nil
	}, g.logs...)
	if withReplica {
		// A Sentinel learns of replicas from the master's INFO, which it
		// reads every 10 s: a failover before that would find no replica.
		waitUntil(tb, "sentinel knows the replica", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			replicas, err := g.sentinel.Do(ctx, g.sentinel.B().SentinelReplicas().Master(SentinelMaster).Build()).ToArray()
			if err != nil {
				return err
			}
			for _, r := range replicas {
				m, err := r.AsStrMap()
				if err == nil && net.JoinHostPort(m["ip"], m["port"]) == g.Replica && m["master-link-status"] == "ok" {
					return nil
				}
			}
			return fmt.Errorf("sentinel lists %d replicas, not %s in sync", len(replicas), g.Replica)
		}, g.logs...)
	}

	g.URL = "redis://" + saddr + "?master_set=" + SentinelMaster
	if password != "" {
		g.URL = "redis://:" + password + "@" + saddr + "?master_set=" + SentinelMaster
	}
	return g
}

// currentMaster is the master the Sentinel names now ("" on error).
func (g *SentinelGroup) currentMaster() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	got, err := g.sentinel.Do(ctx, g.sentinel.B().SentinelGetMasterAddrByName().Master(SentinelMaster).Build()).AsStrSlice()
	if err != nil || len(got) != 2 {
		return ""
	}
	return net.JoinHostPort(got[0], got[1])
}

// KillMaster kills the master with SIGKILL: no goodbye to its clients.
func (g *SentinelGroup) KillMaster(tb testing.TB) {
	tb.Helper()
	if err := g.master.Process.Kill(); err != nil {
		tb.Fatalf("cachetest: kill the master: %v", err)
	}
}

// WaitFailover waits until the Sentinel names the replica as master and the
// replica answers as one.
func (g *SentinelGroup) WaitFailover(tb testing.TB) {
	tb.Helper()
	waitUntil(tb, "the Sentinel promotes the replica", func() error {
		if got := g.currentMaster(); got != g.Replica {
			return fmt.Errorf("sentinel names master %q", got)
		}
		return nil
	}, g.logs...)
}
