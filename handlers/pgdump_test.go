package handlers_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// assertNotInPostgres scans every row of every table as text.
func assertNotInPostgres(t *testing.T, url string, secrets ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		var dump string
		q := `SELECT coalesce(string_agg(t::text, E'\n'), '') FROM ` + pgx.Identifier{table}.Sanitize() + ` t`
		if err := conn.QueryRow(ctx, q).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(dump, s) || strings.Contains(dump, hex.EncodeToString([]byte(s))) {
				t.Fatalf("table %s holds a secret in plaintext", table)
			}
		}
	}
}
