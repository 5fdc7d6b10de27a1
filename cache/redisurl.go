package cache

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// redisParams are the query parameters the Redis client (rueidis.ParseURL)
// reads. Others are refused rather than ignored: a misspelt master_set
// would connect to the Sentinel as if it were Redis.
var redisParams = []string{"addr", "master_set", "db", "dial_timeout", "write_timeout",
	"client_name", "max_retries", "skip_verify", "protocol", "client_cache"}

// RedisURLProblems is the one statement of what a Redis URL may be (see
// redisOptions for the topologies it names): every problem of s, each a
// sentence that never quotes the URL's values (they may hold a password),
// or none. The configuration reports them all at once against redis_url;
// Open refuses a URL with any.
func RedisURLProblems(s string) []string {
	var p problems
	if !strings.Contains(s, "://") {
		p.add("not a URL (want redis://host:6379, rediss://… or unix:///path)")
		return p
	}
	u, err := url.Parse(s)
	if err != nil {
		p.add("not a valid URL")
		return p
	}
	unix := false
	switch strings.ToLower(u.Scheme) {
	case "redis", "rediss":
		if u.Host == "" {
			p.add("missing host")
		}
	case "unix":
		unix = true
		if u.Path == "" {
			p.add("missing socket path (want unix:///path/to/redis.sock)")
		}
	default:
		p.add("unsupported scheme %q (want redis://, rediss:// or unix://)", u.Scheme)
		return p
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		p.add("query is not valid")
		return p
	}
	dbInPath := false
	if path := strings.TrimPrefix(u.Path, "/"); !unix && path != "" {
		n, err := strconv.Atoi(path)
		if err != nil || n < 0 {
			p.add("the path must be a database number, such as /0")
		}
		dbInPath = n != 0
	}
	p.query(q, unix, dbInPath)
	return p
}

type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// query checks the query of a Redis URL: addr (more nodes of a Redis
// Cluster, or more Sentinels), master_set (the URL names Sentinels), the
// database and the timeouts. dbInPath: the path selects a database other
// than 0. Values are never quoted.
func (p *problems) query(q url.Values, unix, dbInPath bool) {
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(redisParams, name) {
			continue
		}
		if redisParamName(name) {
			p.add("unknown query parameter %q (known: %s)", name, strings.Join(redisParams, ", "))
		} else {
			p.add("unknown query parameter (known: %s)", strings.Join(redisParams, ", "))
		}
	}
	if unix && (q.Has("addr") || q.Has("master_set")) {
		p.add("unix:// takes no addr or master_set (a Redis Cluster or Sentinels are reached by redis:// or rediss://)")
	} else {
		for _, a := range q["addr"] {
			if !validHostPort(a) {
				// The client would silently put the URL's host in place
				// of a missing port.
				p.add("each addr must be host:port, with a port")
				break
			}
		}
		if ms := q["master_set"]; len(ms) > 1 || (len(ms) == 1 && ms[0] == "") {
			p.add("master_set must name one master set (the URL then names Sentinels)")
		}
	}
	if q.Get("client_cache") == "0" || q.Get("protocol") == "2" {
		p.add("must not turn off client-side caching (client_cache=0, protocol=2): invalidations carry revocations to the replicas")
	}
	dbNot0 := dbInPath
	if q.Has("db") {
		n, err := strconv.Atoi(q.Get("db"))
		if err != nil || n < 0 {
			p.add("db must be a database number")
		}
		dbNot0 = n != 0
	}
	if dbNot0 && q.Has("addr") && !q.Has("master_set") {
		p.add("a Redis Cluster (several addr) has only database 0")
	}
	for _, name := range []string{"dial_timeout", "write_timeout"} {
		if q.Has(name) {
			if d, err := time.ParseDuration(q.Get(name)); err != nil || d <= 0 {
				p.add("%s must be a positive duration such as 1s", name)
			}
		}
	}
}

// redisParamName: a name short and plain enough to quote back (a stray
// password is neither).
func redisParamName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// validHostPort: host:port with a host and a numeric port (IPv6 in
// brackets).
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}
