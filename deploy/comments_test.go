package deploy

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The shutdown figures (terminationGracePeriodSeconds, shutdown_delay,
// shutdown_timeout, the app's preStop sleep, stop_grace_period) are set in
// one file and explained in comments of others. The tests of the wiring
// check the relation between the values; this one checks that the comments
// state the values as they are, so that a changed value cannot leave a
// comment behind (as a grace period of 45 s once stayed next to 50).
//
// A comment states a figure only as "<name> (<N> s)". In a comment that
// names one of these settings, every other figure is refused, since it
// could only be one of them restated out of reach of this test.

// statedFigure is a figure attached to its setting's name.
var statedFigure = regexp.MustCompile(`\b(shutdown_delay|shutdown_timeout|terminationGracePeriodSeconds|stop_grace_period|preStop sleep) \((\d+) s\)`)

// looseFigure is any other figure of time, or a bare number in parentheses.
var looseFigure = regexp.MustCompile(`\b\d+(\.\d+)? ?(s|sec|seconds?|ms|m|min|minutes?)\b|\(\d+\)`)

// commentBlocks returns the runs of consecutive comment lines of a YAML or
// TOML text (also the TOML inside a ConfigMap), each joined into one line,
// with the number of its first line.
func commentBlocks(text string) (blocks []string, lines []int) {
	open := false
	for i, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		c, ok := strings.CutPrefix(t, "#")
		if !ok {
			if _, after, found := strings.Cut(l, " # "); found {
				blocks, lines = append(blocks, after), append(lines, i+1)
			}
			open = false
			continue
		}
		if open {
			blocks[len(blocks)-1] += " " + strings.TrimSpace(c)
			continue
		}
		blocks, lines, open = append(blocks, strings.TrimSpace(c)), append(lines, i+1), true
	}
	return blocks, lines
}

// checkFigures returns a problem for each figure of text's comments that is
// not its setting's value (facts, in seconds), and for each loose figure in
// a comment that names one of the settings.
func checkFigures(text string, facts map[string]int) []string {
	var problems []string
	blocks, lines := commentBlocks(text)
	for i, b := range blocks {
		for _, m := range statedFigure.FindAllStringSubmatch(b, -1) {
			want, known := facts[m[1]]
			got, _ := strconv.Atoi(m[2])
			switch {
			case !known:
				problems = append(problems, fmt.Sprintf("line %d: %s is not set where this comment can see it", lines[i], m[1]))
			case got != want:
				problems = append(problems, fmt.Sprintf("line %d: the comment says %s (%d s), the value is %d s", lines[i], m[1], got, want))
			}
		}
		names := false
		for name := range facts {
			names = names || strings.Contains(b, name)
		}
		if !names {
			continue
		}
		rest := statedFigure.ReplaceAllString(b, "")
		if f := looseFigure.FindString(rest); f != "" {
			problems = append(problems, fmt.Sprintf("line %d: %q is not attached to a setting as \"<name> (<N> s)\"", lines[i], f))
		}
	}
	return problems
}

func seconds(d time.Duration) int { return int(d / time.Second) }

// TestCommentsStateTheValues checks the comments of every deploy file
// against the values that the Kubernetes base and the Compose file set.
func TestCommentsStateTheValues(t *testing.T) {
	p := loadPod(t)
	cfg, err := sidecarConfig(t, p, map[string]string{"ZECTRE_AUTH_JWT_SECRET": strings.Repeat("k", 64)})
	if err != nil {
		t.Fatal(err)
	}
	spec := p.d.Spec.Template.Spec
	kube := map[string]int{
		"shutdown_delay":   seconds(cfg.ShutdownDelay.Std()),
		"shutdown_timeout": seconds(cfg.ShutdownTimeout.Std()),
	}
	if spec.TerminationGracePeriodSeconds != nil {
		kube["terminationGracePeriodSeconds"] = int(*spec.TerminationGracePeriodSeconds)
	}
	if i := slices.IndexFunc(spec.Containers, func(c corev1.Container) bool {
		return c.Name != sidecar && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil
	}); i >= 0 {
		kube["preStop sleep"] = int(spec.Containers[i].Lifecycle.PreStop.Sleep.Seconds)
	}

	c := loadCompose(t)
	auth := c.Services[authService]
	ccfg := composeConfig(t, c, auth)
	grace, err := time.ParseDuration(auth.StopGracePeriod)
	if err != nil {
		t.Fatalf("stop_grace_period %q: %v", auth.StopGracePeriod, err)
	}
	compose := map[string]int{
		"shutdown_delay":    seconds(ccfg.ShutdownDelay.Std()),
		"shutdown_timeout":  seconds(ccfg.ShutdownTimeout.Std()),
		"stop_grace_period": seconds(grace),
	}

	files := map[string]map[string]int{"compose.yaml": compose, "compose/zectre-auth.toml": compose}
	entries, err := os.ReadDir(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if isYAML(e.Name()) {
			files[baseDir+"/"+e.Name()] = kube
		}
	}
	for path, facts := range files {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, problem := range checkFigures(string(text), facts) {
			t.Errorf("%s %s", path, problem)
		}
	}
}

// TestCheckFiguresCatchesDrift: the checker refuses a stale figure, a figure
// written another way, and a setting the file cannot see.
func TestCheckFiguresCatchesDrift(t *testing.T) {
	facts := map[string]int{"shutdown_delay": 5, "shutdown_timeout": 30, "terminationGracePeriodSeconds": 50}
	for _, tc := range []struct {
		name, text string
		problem    string // "" when none
	}{
		{"stated right", "# shutdown_delay (5 s) + shutdown_timeout (30 s) under\n# terminationGracePeriodSeconds (50 s)\nx: 1\n", ""},
		{"stale", "# the pod's terminationGracePeriodSeconds (45 s) is longer\n", "the value is 50 s"},
		{"bare number", "# the pod's terminationGracePeriodSeconds\n# (45) is longer than both together.\n", `"(45)" is not attached`},
		{"loose figure", "# Keep serving 5 s after SIGTERM; shutdown_delay decides.\n", `"5 s" is not attached`},
		{"sum written apart", "# shutdown_delay + shutdown_timeout (5 s +\n# 30 s in the ConfigMap)\n", "is not attached"},
		{"unseen setting", "# stop_grace_period (50 s)\n", "is not set where"},
		{"inline", "grace: 50 # terminationGracePeriodSeconds (40 s)\n", "the value is 50 s"},
		{"other comments are free", "# the JWKS fetch takes at most 5 s\n", ""},
		{"not a comment", "shutdown_delay = \"7s\"\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkFigures(tc.text, facts)
			if tc.problem == "" {
				if len(got) > 0 {
					t.Fatalf("problems %q, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.problem) {
				t.Fatalf("problems %q, want one with %q", got, tc.problem)
			}
		})
	}
}

// TestReadmeBuildsTheImageTheManifestsName: deploy/README.md says how to
// build and publish the image, under the name the Deployment runs and the
// kustomization's images: entry replaces.
func TestReadmeBuildsTheImageTheManifestsName(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	p := loadPod(t)
	name, _, _ := strings.Cut(p.auth.Image, ":")
	k := only[*kustomization](t, loadManifests(t, baseDir))
	if !slices.ContainsFunc(k.Images, func(i kustomizeImage) bool { return i.Name == name }) {
		t.Errorf("kustomization.yaml has no images: entry for %s, the sidecar's image", name)
	}
	for _, want := range []string{
		"`" + name + "`",
		"docker build -f deploy/Dockerfile --build-arg VERSION=\"$VERSION\" -t " + name + ":",
		"docker push ",
		"  - name: " + name + "\n    newName: ",
		"kustomize edit set image " + name + "=",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("deploy/README.md does not say %q", want)
		}
	}
}
