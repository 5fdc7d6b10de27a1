package cache

import (
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/zectre/zectre-auth/store"
)

func TestEntryRoundTrip(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	exp := now.Add(time.Hour)
	name := "Ada"
	d := sha256.Sum256([]byte("k"))
	keys := []store.APIKey{
		{ID: "k1", UserID: "u1", Name: "ci", Prefix: "zec_abcd", Digest: d, Scopes: []string{"*"}, CreatedAt: now},
		{ID: "k2", UserID: "u1", Name: "", Prefix: "zec_efgh", Digest: d, Scopes: []string{"a", "b:c"}, ExpiresAt: &exp, CreatedAt: now},
		{ID: "k3", UserID: "u1", Digest: d, CreatedAt: now},
	}
	for _, k := range keys {
		// What the cache answers: the fields a credential check reads.
		want := store.APIKey{ID: k.ID, UserID: k.UserID, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt}
		e, err := decodeKey(newKeyEntry(k, true).encode())
		if err != nil || !e.found {
			t.Fatalf("key round trip: %+v, %v; want %+v", e, err, want)
		}
		if got, _ := e.result(); !reflect.DeepEqual(got, want) {
			t.Fatalf("key round trip: %+v; want %+v", got, want)
		}
	}
	users := []store.User{
		{ID: "u1", Email: "a@example.com", CreatedAt: now},
		{ID: "u2", Email: "b@example.com", Name: &name, IsAdmin: true, Disabled: true, CreatedAt: now},
		// The revocation time travels with the record.
		{ID: "u3", Email: "c@example.com", CreatedAt: now, TokensValidAfter: now.Truncate(time.Second).Add(time.Second)},
	}
	for _, u := range users {
		e, err := decodeUser(encodeUser(u))
		if err != nil || !e.found || !reflect.DeepEqual(e.user, u) {
			t.Fatalf("user round trip: %+v, %v; want %+v", e, err, u)
		}
	}
	// The password hash never reaches Redis.
	u := users[0]
	u.PasswordHash = "$argon2id$secret"
	if v := newUserEntry(u, true).redisValue(); v != encodeUser(users[0]) {
		t.Fatalf("encoded user carries more than it should: %s", v)
	}
	for _, v := range []string{negativeValue} {
		if e, err := decodeKey(v); err != nil || e.found {
			t.Fatalf("decodeKey(%q) = %+v, %v; want a negative entry", v, e, err)
		}
		if e, err := decodeUser(v); err != nil || e.found {
			t.Fatalf("decodeUser(%q) = %+v, %v; want a negative entry", v, e, err)
		}
	}
}

// Whatever Redis holds, decoding never panics, and an error leaves no entry.
func FuzzDecodeEntry(f *testing.F) {
	now := time.Now()
	f.Add(newKeyEntry(store.APIKey{ID: "k", UserID: "u", Scopes: []string{"*"}, CreatedAt: now}, true).encode())
	f.Add(encodeUser(store.User{ID: "u", Email: "a@example.com", CreatedAt: now}))
	f.Add("-")
	f.Add("")
	f.Add("{}")
	f.Add(`{"i":"k","u":"u","e":null,"s":null}`)
	f.Fuzz(func(t *testing.T, v string) {
		if e, err := decodeKey(v); (err == nil) == (e == nil) {
			t.Fatalf("decodeKey(%q) = %v, %v", v, e, err)
		}
		if e, err := decodeUser(v); (err == nil) == (e == nil) {
			t.Fatalf("decodeUser(%q) = %v, %v", v, e, err)
		}
	})
}
