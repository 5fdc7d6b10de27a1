package handlers_test

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestSignup(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		r := s.do("POST", "/api/v1/auth/signup", `{"email":"  Alice@Example.COM ","password":"hunter2abc","name":"Alice"}`)
		expect(t, r, 201, "")
		if !uuidRE.MatchString(r.str("id")) || r.str("email") != "alice@example.com" || r.str("name") != "Alice" || r.body["is_admin"] != false {
			t.Fatalf("user object: %s", r.raw)
		}
		if _, err := time.Parse(time.RFC3339, r.str("created_at")); err != nil || !strings.HasSuffix(r.str("created_at"), "Z") {
			t.Fatalf("created_at %q is not RFC 3339 UTC", r.str("created_at"))
		}
		r = s.do("POST", "/api/v1/auth/signup", `{"email":"bob@example.com","password":"hunter2abc"}`)
		expect(t, r, 201, "")
		if v, ok := r.body["name"]; !ok || v != nil {
			t.Fatalf("name should be null when not given: %s", r.raw)
		}
		r = s.do("POST", "/api/v1/auth/signup", `{"email":"ALICE@example.com","password":"another-password"}`)
		expect(t, r, 409, "EMAIL_EXISTS")

		for _, tc := range []struct{ name, body, code string }{
			{"no at", `{"email":"not-an-email","password":"hunter2abc"}`, "INVALID_EMAIL"},
			{"two ats", `{"email":"a@b@c","password":"hunter2abc"}`, "INVALID_EMAIL"},
			{"empty local", `{"email":"@example.com","password":"hunter2abc"}`, "INVALID_EMAIL"},
			{"empty domain", `{"email":"a@","password":"hunter2abc"}`, "INVALID_EMAIL"},
			{"inner space", `{"email":"a b@example.com","password":"hunter2abc"}`, "INVALID_EMAIL"},
			{"too long", `{"email":"` + strings.Repeat("a", 250) + `@example.com","password":"hunter2abc"}`, "INVALID_EMAIL"},
			{"missing email", `{"password":"hunter2abc"}`, "INVALID_EMAIL"},
			{"short password", `{"email":"bob@example.com","password":"short"}`, "WEAK_PASSWORD"},
			{"seven code points", `{"email":"c@example.com","password":"ééééééé"}`, "WEAK_PASSWORD"},
			{"missing password", `{"email":"c@example.com"}`, "WEAK_PASSWORD"},
			{"huge password", `{"email":"c@example.com","password":"` + strings.Repeat("x", 1025) + `"}`, "VALIDATION_ERROR"},
			{"long name", `{"email":"c@example.com","password":"hunter2abc","name":"` + strings.Repeat("n", 201) + `"}`, "VALIDATION_ERROR"},
			{"not json", `email=a@b.c`, "INVALID_JSON"},
			{"array", `[{"email":"c@example.com"}]`, "INVALID_JSON"},
			{"null", `null`, "INVALID_JSON"},
			{"empty", ``, "INVALID_JSON"},
			{"number email", `{"email":5,"password":"hunter2abc"}`, "INVALID_JSON"},
			{"object name", `{"email":"c@example.com","password":"hunter2abc","name":{}}`, "INVALID_JSON"},
			{"trailing data", `{"email":"c@example.com","password":"hunter2abc"} {}`, "INVALID_JSON"},
			{"truncated", `{"email":"c@example.com","password":"hunt`, "INVALID_JSON"},
			{"invalid utf8", "{\"email\":\"c\xff@example.com\",\"password\":\"hunter2abc\"}", "INVALID_JSON"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expect(t, s.do("POST", "/api/v1/auth/signup", tc.body), 400, tc.code)
			})
		}
		// None of the refused signups created an account.
		if _, err := s.store.UserByEmail(t.Context(), "c@example.com"); err == nil {
			t.Fatal("a refused signup left an account behind")
		}
		// A seven-character password is weak; eight multi-byte code points are not.
		expect(t, s.do("POST", "/api/v1/auth/signup", `{"email":"d@example.com","password":"éééééééé"}`), 201, "")
	})
}

func TestSignupRace(t *testing.T) {
	stores(t, func(t *testing.T, url string) {
		s := startService(t, url, testPolicy())
		const n = 20
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				email := "Race@Example.com"
				if i%2 == 1 {
					email = "race@EXAMPLE.com"
				}
				statuses[i] = s.do("POST", "/api/v1/auth/signup", fmt.Sprintf(`{"email":%q,"password":"hunter2abc"}`, email)).status
			})
		}
		wg.Wait()
		created, conflicts := 0, 0
		for _, st := range statuses {
			switch st {
			case 201:
				created++
			case 409:
				conflicts++
			}
		}
		if created != 1 || conflicts != n-1 {
			t.Fatalf("%d parallel signups: %d created, %d conflicts (statuses %v)", n, created, conflicts, statuses)
		}
	})
}
