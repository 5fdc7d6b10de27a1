package client

import (
	"net/http"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/handlers"
)

func TestLocalDeadline(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	// The server's clock is an hour ahead; ten minutes are left either way.
	served := now.Add(time.Hour)
	got := localDeadline(served.Add(10*time.Minute).Format(time.RFC3339), served.Format(http.TimeFormat), now)
	if !got.Equal(now.Add(10 * time.Minute)) {
		t.Fatalf("deadline %v", got)
	}
	// Within a few seconds the server's expires_at is taken as it is.
	exp := now.Add(10 * time.Minute)
	if got := localDeadline(exp.Format(time.RFC3339), now.Add(-time.Second).Format(http.TimeFormat), now); !got.Equal(exp) {
		t.Fatalf("deadline %v, want %v", got, exp)
	}
	if !localDeadline("nonsense", "", now).IsZero() {
		t.Fatal("an unreadable expires_at gives a deadline")
	}
	if handlers.CLIShortCode("a1b2c3d4e5f6") != "a1b2-c3d4" || handlers.CLIShortCode("abc") != "abc" {
		t.Fatal("CLIShortCode")
	}
	for _, u := range []string{"file:///etc/passwd", "--help", "javascript:alert(1)", "http://"} {
		if isWebURL(u) {
			t.Errorf("isWebURL(%q)", u)
		}
	}
	if !isWebURL("https://example.com/auth/cli?code=ab") {
		t.Error("isWebURL rejects an https URL")
	}
}
