package cachetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

const (
	// redisCLI is used when redis-cli is not on PATH.
	redisCLI = "/usr/bin/redis-cli"
	// SentinelMaster is the master set name StartSentinel's Sentinel
	// monitors.
	SentinelMaster = "zectre-test"
	// startLimit bounds each wait for a throwaway server or cluster to get
	// ready: generous, since it only fails a test that would fail anyway.
	startLimit = 20 * time.Second
)

// Cluster is a throwaway Redis Cluster of three masters without replicas,
// on loopback, killed when the test ends.
type Cluster struct {
	// URL names every node, the first in the host and the others in addr
	// parameters: redis://127.0.0.1:P1?addr=127.0.0.1:P2&addr=127.0.0.1:P3.
	URL string
	// Addrs are the nodes' host:port, in the order of URL.
	Addrs []string

	nodes map[string]rueidis.Client // plain client per node, to look inside
}

// Pause makes the node at addr stop answering clients for d (CLIENT PAUSE
// ALL): a master that is down, as its clients see it, without losing it.
func (c *Cluster) Pause(tb testing.TB, addr string, d time.Duration) {
	tb.Helper()
	n := c.nodes[addr]
	if n == nil {
		tb.Fatalf("cachetest: no node %s", addr)
	}
	ms := strconv.FormatInt(d.Milliseconds(), 10)
	if err := n.Do(context.Background(), n.B().Arbitrary("CLIENT", "PAUSE", ms, "ALL").Build()).Error(); err != nil {
		tb.Fatalf("cachetest: pause %s: %v", addr, err)
	}
}

// StartCluster starts three `redis-server --cluster-enabled yes` on free
// loopback ports, each in a temporary directory, joins them with
// `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes` and
// waits until every node reports cluster_state:ok and knows all three
// masters. Without redis-server or redis-cli the test is skipped, unless
// CI=true, where it fails.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	server := binary(tb, "redis-server", redisServer)
	cli := binary(tb, "redis-cli", redisCLI)
	c := &Cluster{nodes: map[string]rueidis.Client{}}
	for range 3 {
		// The cluster bus listens on port+10000; both must be free. No
		// --cluster-port: Redis 6 lacks it.
		port := freeClusterPort(tb)
		dir := tb.TempDir()
		addr := "127.0.0.1:" + strconv.Itoa(port)
		startProcess(tb, server, dir, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
			"--save", "", "--appendonly", "no", "--protected-mode", "no")
		c.Addrs = append(c.Addrs, addr)
		c.nodes[addr] = nodeClient(tb, addr, "", filepath.Join(dir, "redis.log"))
	}
	c.URL = "redis://" + c.Addrs[0] + "?addr=" + c.Addrs[1] + "&addr=" + c.Addrs[2]

	ctx, cancel := context.WithTimeout(context.Background(), startLimit)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		tb.Fatalf("cachetest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs {
		n := c.nodes[addr]
		waitUntil(tb, "cluster_state:ok and 3 masters on "+addr, func() error {
			info, err := n.Do(ctx, n.B().ClusterInfo().Build()).ToString()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("cluster_state not ok")
			}
			slots, err := c.slots(ctx, n)
			if err != nil {
				return err
			}
			masters := map[string]bool{}
			for _, s := range slots {
				masters[s.addr] = true
			}
			if len(masters) != 3 {
				return fmt.Errorf("node knows %d masters", len(masters))
			}
			return nil
		})
	}
	return c
}

// NodeOf returns the address of the master serving key.
func (c *Cluster) NodeOf(tb testing.TB, key string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := c.nodes[c.Addrs[0]]
	slot, err := n.Do(ctx, n.B().ClusterKeyslot().Key(key).Build()).AsInt64()
	if err != nil {
		tb.Fatalf("cachetest: CLUSTER KEYSLOT: %v", err)
	}
	slots, err := c.slots(ctx, n)
	if err != nil {
		tb.Fatalf("cachetest: CLUSTER SLOTS: %v", err)
	}
	for _, s := range slots {
		if s.from <= slot && slot <= s.to {
			return s.addr
		}
	}
	tb.Fatalf("cachetest: no master serves slot %d", slot)
	return ""
}

// KeysPerNode counts, on each master, the keys matching the SCAN pattern
// match (such as Prefix(tb)+"*").
func (c *Cluster) KeysPerNode(tb testing.TB, match string) map[string]int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts := map[string]int{}
	for _, addr := range c.Addrs {
		n := c.nodes[addr]
		var cursor uint64
		for {
			e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(match).Count(1000).Build()).AsScanEntry()
			if err != nil {
				tb.Fatalf("cachetest: SCAN on %s: %v", addr, err)
			}
			counts[addr] += len(e.Elements)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return counts
}

type slotRange struct {
	from, to int64
	addr     string
}

// slots reads CLUSTER SLOTS from n.
func (c *Cluster) slots(ctx context.Context, n rueidis.Client) ([]slotRange, error) {
	entries, err := n.Do(ctx, n.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return nil, err
	}
	var out []slotRange
	for _, e := range entries {
		f, err := e.ToArray()
		if err != nil || len(f) < 3 {
			return nil, fmt.Errorf("unexpected CLUSTER SLOTS entry")
		}
		from, err1 := f[0].AsInt64()
		to, err2 := f[1].AsInt64()
		master, err3 := f[2].ToArray()
		if err1 != nil || err2 != nil || err3 != nil || len(master) < 2 {
			return nil, fmt.Errorf("unexpected CLUSTER SLOTS entry")
		}
		host, err1 := master[0].ToString()
		port, err2 := master[1].AsInt64()
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unexpected CLUSTER SLOTS entry")
		}
		out = append(out, slotRange{from: from, to: to, addr: net.JoinHostPort(host, strconv.FormatInt(port, 10))})
	}
	return out, nil
}

// binary finds name on PATH, else at fallback.
func binary(tb testing.TB, name, fallback string) string {
	tb.Helper()
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin
	}
	if _, serr := os.Stat(fallback); serr != nil {
		unavailable(tb, name, err)
	}
	return fallback
}

// startProcess runs bin in dir until the test ends (then kills it). Its
// output goes to dir/output.log.
func startProcess(tb testing.TB, bin, dir string, args ...string) *exec.Cmd {
	tb.Helper()
	out, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		tb.Fatalf("cachetest: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		tb.Fatalf("cachetest: start %s: %v", bin, err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
	})
	return cmd
}

// nodeClient connects a plain client (no cluster discovery, no client-side
// caching) to one server and waits until it answers PING; closed when the
// test ends. log is shown if the server never answers.
func nodeClient(tb testing.TB, addr, password, log string) rueidis.Client {
	tb.Helper()
	var c rueidis.Client
	waitUntil(tb, addr+" answers", func() error {
		var err error
		if c == nil {
			c, err = rueidis.NewClient(rueidis.ClientOption{
				InitAddress: []string{addr}, Password: password, ForceSingleClient: true,
				DisableCache: true, Dialer: net.Dialer{Timeout: time.Second},
			})
			if err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Do(ctx, c.B().Ping().Build()).Error()
	}, log)
	tb.Cleanup(c.Close)
	return c
}

// waitUntil polls check until it returns nil, failing the test after
// startLimit with its last error and the tail of the logs.
func waitUntil(tb testing.TB, what string, check func() error, logs ...string) {
	tb.Helper()
	deadline := time.Now().Add(startLimit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			var tails bytes.Buffer
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				fmt.Fprintf(&tails, "\n--- %s:\n%s", l, strings.Join(lines[max(0, len(lines)-20):], "\n"))
			}
			tb.Fatalf("cachetest: %s: not within %v: %v%s", what, startLimit, err, tails.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeClusterPort returns a free port whose cluster bus port (+10000) is
// free too.
func freeClusterPort(tb testing.TB) int {
	tb.Helper()
	var tried []int
	for range 50 {
		p := freePort(tb)
		tried = append(tried, p)
		if p+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		if err != nil {
			continue
		}
		l.Close()
		return p
	}
	slices.Sort(tried)
	tb.Fatalf("cachetest: no free port with a free port+10000 among %v", tried)
	return 0
}
