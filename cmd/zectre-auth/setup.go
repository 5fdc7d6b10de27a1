package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/store"
)

// loadConfig parses --config and the environment, validates, and prints one
// line per problem when the configuration is unusable.
func loadConfig(name string, args []string, stderr io.Writer) (config.Config, []string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "TOML configuration `file` (default $ZECTRE_AUTH_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, nil, false
	}
	cfg, err := config.Load(config.Path(*path, os.LookupEnv), os.LookupEnv)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		printProblems(stderr, err)
		return config.Config{}, nil, false
	}
	return cfg, fs.Args(), true
}

// printProblems writes each joined error on its own line.
func printProblems(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintln(w, "zectre-auth: config:", line)
		}
	}
}

// openStore opens the database behind the identity cache (Redis-backed when
// configured). Every change goes through the cache, so that it reaches the
// running replicas, also when an admin command makes it. close closes both.
func openStore(ctx context.Context, cfg config.Config, observer cache.Observer, log *slog.Logger, stderr io.Writer) (st *cache.Store, close func(), ok bool) {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: database:", err)
		return nil, nil, false
	}
	st, err = cache.Open(ctx, db, cache.Options{RedisURL: cfg.RedisURL, Prefix: cfg.RedisPrefix, Log: log, Observer: observer})
	if err != nil {
		db.Close()
		fmt.Fprintln(stderr, "zectre-auth: ZECTRE_AUTH_REDIS_URL:", err)
		return nil, nil, false
	}
	return st, func() { st.Close(); db.Close() }, true
}

func migrate(args []string, stdout, stderr io.Writer) int {
	cfg, _, ok := loadConfig("migrate", args, stderr)
	if !ok {
		return 2
	}
	applied, err := store.Migrate(context.Background(), cfg.DatabaseURL)
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: migrate:", err)
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return 0
}

func users(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, "usage: zectre-auth users disable|enable|promote|demote EMAIL [--config FILE]\n")
		return 2
	}
	action, email := args[0], strings.ToLower(strings.TrimSpace(args[1]))
	cfg, _, ok := loadConfig("users", args[2:], stderr)
	if !ok {
		return 2
	}
	ctx := context.Background()
	st, closeStore, ok := openStore(ctx, cfg, nil, slog.New(slog.NewTextHandler(stderr, nil)), stderr)
	if !ok {
		return 1
	}
	defer closeStore()
	var err error
	switch action {
	case "disable":
		_, err = st.SetDisabled(ctx, email, true)
	case "enable":
		_, err = st.SetDisabled(ctx, email, false)
	case "promote":
		_, err = st.SetAdmin(ctx, email, true)
	case "demote":
		_, err = st.SetAdmin(ctx, email, false)
	default:
		fmt.Fprintf(stderr, "zectre-auth: users: unknown action %q (want disable, enable, promote or demote)\n", action)
		return 2
	}
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(stderr, "zectre-auth: users: no account has the email %s\n", email)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: users:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%sd %s\n", action, email)
	return 0
}
