package cache

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestKeyTableRoundTrip(t *testing.T) {
	tab := newKeyTable(1024)
	exp := time.Now().UTC().Truncate(time.Microsecond).Add(time.Hour)
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("scope:%d", i)
	}
	cases := []struct {
		name string
		e    *keyEntry
	}{
		{"uuids", newFoundKey(uuid.NewString(), uuid.NewString(), []string{"*"})},
		{"other ids", newFoundKey("key-1", "user-1", []string{"apps:read", "apps:write"})},
		// Uppercase uuids are not in the canonical spelling: kept as text.
		{"uppercase uuids", newFoundKey(strings.ToUpper(uuid.NewString()), uuid.NewString(), nil)},
		{"expiring", func() *keyEntry {
			e := newFoundKey(uuid.NewString(), uuid.NewString(), []string{"a"})
			e.expiresAt = exp
			return e
		}()},
		{"many scopes", newFoundKey(uuid.NewString(), uuid.NewString(), many)},
		{"none", &keyEntry{}},
	}
	for i, tc := range cases {
		d := sha256.Sum256([]byte(tc.name))
		tc.e.ttl, tc.e.epoch = time.Minute, 7
		tab.set(&d, tc.e)
		got, ok := tab.get(&d, 7)
		if !ok {
			t.Fatalf("%s: not found", tc.name)
		}
		want, wantErr := tc.e.result()
		have, haveErr := got.result()
		if !reflect.DeepEqual(have, want) || haveErr != wantErr {
			t.Fatalf("%s: got %+v, %v; want %+v, %v", tc.name, have, haveErr, want, wantErr)
		}
		if _, ok := tab.get(&d, 8); ok {
			t.Fatalf("%s: found in a later epoch", tc.name)
		}
		if i == 0 {
			tab.del(&d)
			if _, ok := tab.get(&d, 7); ok {
				t.Fatalf("%s: found after del", tc.name)
			}
		}
	}
}

func TestKeyTableExpires(t *testing.T) {
	tab := newKeyTable(1024)
	d := sha256.Sum256([]byte("k"))
	e := newFoundKey(uuid.NewString(), uuid.NewString(), nil)
	e.ttl = 20 * time.Millisecond
	tab.set(&d, e)
	if _, ok := tab.get(&d, 0); !ok {
		t.Fatal("not found before its ttl")
	}
	time.Sleep(30 * time.Millisecond)
	if _, ok := tab.get(&d, 0); ok {
		t.Fatal("found after its ttl")
	}
	e.ttl = 0 // an entry with no life left is not put
	tab.set(&d, e)
	if _, ok := tab.get(&d, 0); ok {
		t.Fatal("an entry with no ttl was put")
	}
}

func TestFormatUUIDs(t *testing.T) {
	for range 100 {
		a, b := uuid.New(), uuid.New()
		if got, want := formatUUIDs(a[:], b[:]), a.String()+b.String(); got != want {
			t.Fatalf("formatUUIDs = %s; want %s", got, want)
		}
	}
}
