package handlers_test

// The recorder upstreams of the differential test: one HTTP server per
// stack, each reporting what that stack parsed of every request it received.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// view is what one stack parsed of one request.
type view struct {
	Stack  string `json:"stack"`
	Status string `json:"status,omitempty"` // the stack's own answer, where it reports one (nginx)
	Method string `json:"method"`
	Target string `json:"target"` // the raw request target
	Path   string `json:"path"`   // the path as the stack (or its usual URL parser) reports it
	// Headers are the header lines as the stack exposes them: Node.js and
	// Python give every line in order with its spelling; Go gives a map of
	// canonicalised names (order lost, repeated lines kept per name), so its
	// lines are sorted by name; nginx gives one variable per name, in which
	// "_" and "-" are the same and only the first of repeated lines shows.
	Headers [][2]string `json:"headers"`
	Body    int         `json:"body"` // body bytes read (nginx: the declared Content-Length)
}

// stack is a running recorder: its base URL and what reached it.
type stack struct {
	name string
	url  string
	take func() []view // the views since the last take, oldest first
}

// needProgram finds a program a differential stack runs. CI installs them,
// so there a missing one fails the test; elsewhere it is skipped loudly.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true): %v", name, err)
		}
		t.Skipf("SKIP: %s is not installed; install it to run the differential test", name)
	}
	return p
}

// startStacks starts the recorder of every stack.
func startStacks(t *testing.T) []stack {
	t.Helper()
	node, python, nginx := needProgram(t, "node"), needProgram(t, "python3"), needProgram(t, "nginx")
	return []stack{
		goStack(t),
		scriptStack(t, "node", node, "recorder.js"),
		scriptStack(t, "python", python, "recorder.py"),
		nginxStack(t, nginx),
	}
}

// goStack is net/http in this process.
func goStack(t *testing.T) stack {
	up := newUpstream(t)
	up.setHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(goView(seenReq{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header}))
	})
	return stack{name: "go", url: up.srv.URL, take: func() []view {
		var out []view
		for _, s := range up.take() {
			out = append(out, goView(s))
		}
		return out
	}}
}

func goView(s seenReq) view {
	v := view{Stack: "go", Method: s.Method, Target: s.RequestURI, Body: int(s.BodyLen)}
	if u, err := url.ParseRequestURI(s.RequestURI); err == nil {
		v.Path = u.Path // decoded, as a net/http handler reads r.URL.Path
	}
	names := make([]string, 0, len(s.Header))
	for name := range s.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, val := range s.Header[name] {
			v.Headers = append(v.Headers, [2]string{name, val})
		}
	}
	return v
}

// scriptStack runs testdata/differential/<script> with program (node,
// python3): it prints "listening PORT" and appends one JSON view per
// request to the log file it is given, before it answers.
func scriptStack(t *testing.T, name, program, script string) stack {
	t.Helper()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "views.log")
	cmd := exec.Command(program, filepath.Join("testdata", "differential", script), logFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimPrefix(strings.TrimSpace(line), "listening ")
	}()
	var p string
	select {
	case p = <-port:
	case <-time.After(10 * time.Second):
	}
	if _, err := strconv.Atoi(p); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s recorder did not start (%q): %s", name, p, stderr.String())
	}
	log := &viewLog{path: logFile, decode: func(line []byte) (view, error) {
		var v struct {
			Stack, Method, Target, Path string
			Headers                     [][2]string
			Body                        int
		}
		err := json.Unmarshal(line, &v)
		return view{Stack: v.Stack, Method: v.Method, Target: v.Target, Path: v.Path, Headers: v.Headers, Body: v.Body}, err
	}}
	return stack{name: name, url: "http://127.0.0.1:" + p, take: func() []view { return log.take(t) }}
}

// nginxStack runs nginx with testdata/differential/nginx.conf.tmpl, which
// logs one JSON view per request.
func nginxStack(t *testing.T, nginx string) stack {
	t.Helper()
	dir := t.TempDir()
	port := freeLoopbackPort(t)
	conf := renderTemplate(t, "nginx.conf.tmpl", map[string]any{"Dir": dir, "Port": port})
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, fmt.Sprintf("127.0.0.1:%d", port), filepath.Join(dir, "nginx.out"),
		nginx, "-p", dir, "-c", confFile, "-e", filepath.Join(dir, "error.log"))
	log := &viewLog{path: filepath.Join(dir, "views.log"), decode: func(line []byte) (view, error) {
		var v struct {
			Stack, Status, Method, Target, Path, Body string
			Vars                                      map[string]string
		}
		if err := json.Unmarshal(line, &v); err != nil {
			return view{}, err
		}
		body, _ := strconv.Atoi(v.Body)
		out := view{Stack: v.Stack, Status: v.Status, Method: v.Method, Target: v.Target, Path: v.Path, Body: body}
		names := make([]string, 0, len(v.Vars))
		for name := range v.Vars {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if v.Vars[name] != "" { // nginx cannot tell an empty line from none
				out.Headers = append(out.Headers, [2]string{name, v.Vars[name]})
			}
		}
		return out, nil
	}}
	return stack{name: "nginx", url: fmt.Sprintf("http://127.0.0.1:%d", port), take: func() []view { return log.take(t) }}
}

// viewLog reads the lines a recorder appended to its log since the last take.
type viewLog struct {
	mu     sync.Mutex
	path   string
	offset int
	decode func([]byte) (view, error)
}

func (l *viewLog) take(t *testing.T) []view {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	raw, err := os.ReadFile(l.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// Only whole lines: each is written before its request is answered.
	end := bytes.LastIndexByte(raw, '\n') + 1
	if end <= l.offset {
		return nil
	}
	var out []view
	for _, line := range bytes.Split(bytes.TrimSpace(raw[l.offset:end]), []byte("\n")) {
		v, err := l.decode(line)
		if err != nil {
			t.Fatalf("%s: %v: %s", l.path, err, line)
		}
		out = append(out, v)
	}
	l.offset = end
	return out
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// renderTemplate fills testdata/differential/<name>.
func renderTemplate(t *testing.T, name string, data any) []byte {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "differential", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// runDaemon starts a server process and waits until addr accepts.
func runDaemon(t *testing.T, addr, outFile, name string, args ...string) {
	t.Helper()
	out, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		out.Close()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			raw, _ := os.ReadFile(outFile)
			t.Fatalf("%s exited before listening:\n%s", name, raw)
		default:
		}
		if time.Now().After(deadline) {
			raw, _ := os.ReadFile(outFile)
			t.Fatalf("%s did not listen on %s:\n%s", name, addr, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
