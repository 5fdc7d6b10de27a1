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
	"time"

	"github.com/zectre/zectre-auth/cache"
	"github.com/zectre/zectre-auth/config"
	"github.com/zectre/zectre-auth/service"
	"github.com/zectre/zectre-auth/store"
)

// exitConfig is the exit status of every configuration problem, whatever
// its kind: a setting Validate refuses, or one whose value fails while
// starting (a listener that cannot bind, a database or Redis that does not
// answer). 1 is left for failures of a running service or command.
const exitConfig = 2

// errHelp: --help was asked for and the usage printed (exit status 0);
// errReported: the problems were printed (exit status exitConfig).
var (
	errHelp     = errors.New("help")
	errReported = errors.New("reported")
)

// status is the exit status for an error of loadConfig.
func status(err error) int {
	if errors.Is(err, errHelp) {
		return 0
	}
	return exitConfig
}

// isHelp: the spellings of a request for the usage.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// loadConfig parses --config and the environment, validates, and prints one
// line per problem when the configuration is unusable.
func loadConfig(name string, args []string, stdout, stderr io.Writer) (config.Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // the whole usage is printed below, to the right stream
	path := fs.String("config", "", "TOML configuration `file` (default $ZECTRE_AUTH_CONFIG)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return config.Config{}, nil, errHelp
	} else if err != nil {
		fmt.Fprint(stderr, usage)
		return config.Config{}, nil, errReported
	}
	cfg, err := config.LoadValid(config.Path(*path, os.LookupEnv), os.LookupEnv)
	if err != nil {
		printProblems(stderr, err)
		return config.Config{}, nil, errReported
	}
	return cfg, fs.Args(), nil
}

// printProblems writes each joined error on its own line.
func printProblems(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintln(w, "zectre-auth: config:", line)
		}
	}
}

// configProblem reports a setting whose value failed while starting, named
// as the user wrote it (its TOML key or environment variable), with every
// secret of the configuration taken out of the message, and returns
// exitConfig.
func configProblem(w io.Writer, cfg config.Config, key string, err error) int {
	fmt.Fprintf(w, "zectre-auth: %s: %s\n", cfg.Setting(key), oneLine(cfg.Scrub(err.Error())))
	return exitConfig
}

// oneLine keeps one problem on one line: some drivers' errors span several
// (pgx lists each address it tried).
func oneLine(s string) string {
	return strings.NewReplacer("\n\t", "; ", "\n", "; ", "\t", " ").Replace(strings.TrimSpace(s))
}

// opener opens the database: store.Open (which creates and migrates) for the
// service, store.OpenExisting for the admin commands.
type opener func(ctx context.Context, url string) (store.Store, error)

// openStore opens the database behind the identity cache as the service
// does (service.OpenStore), for the admin commands: every change goes
// through the cache, so that it reaches the running replicas. close closes
// both; a status other than 0 means nothing is open.
func openStore(ctx context.Context, cfg config.Config, open opener, log *slog.Logger, stderr io.Writer) (st *cache.Store, close func(), code int) {
	st, close, err := service.OpenStore(ctx, cfg, open, cache.Options{Log: log})
	if err != nil {
		return nil, nil, settingProblem(stderr, cfg, err)
	}
	return st, close, 0
}

// settingProblem reports a service.SettingError with configProblem (the
// database named by databaseError) and returns exitConfig; any other error
// is reported as it is and is status 1.
func settingProblem(w io.Writer, cfg config.Config, err error) int {
	key, ok := service.IsSetting(err)
	if !ok {
		fmt.Fprintln(w, "zectre-auth:", oneLine(cfg.Scrub(err.Error())))
		return 1
	}
	err = errors.Unwrap(err)
	if key == "database_url" {
		err = databaseError(cfg, err)
	}
	return configProblem(w, cfg, key, err)
}

// databaseError says which database failed to open, and what to do when
// an admin command found none.
func databaseError(cfg config.Config, err error) error {
	name := cfg.DatabaseName()
	switch {
	case errors.Is(err, store.ErrNoDatabase):
		return fmt.Errorf("no database at %s; this command opens only an existing database: run it with the service's configuration (--config, ZECTRE_AUTH_DATABASE_URL or ZECTRE_AUTH_DATA_DIR), or create the database with zectre-auth migrate", name)
	case errors.Is(err, store.ErrNotMigrated):
		return fmt.Errorf("the database %s is not migrated (%w); run zectre-auth migrate", name, err)
	}
	return fmt.Errorf("the database %s: %w", name, err)
}

func migrate(args []string, stdout, stderr io.Writer) int {
	cfg, _, err := loadConfig("migrate", args, stdout, stderr)
	if err != nil {
		return status(err)
	}
	name := cfg.DatabaseName()
	applied, err := store.Migrate(context.Background(), cfg.DatabaseURL)
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %s to the database %s\n", m, name)
	}
	if errors.Is(err, store.ErrUnavailable) {
		return configProblem(stderr, cfg, "database_url", databaseError(cfg, err))
	}
	if err != nil {
		fmt.Fprintln(stderr, "zectre-auth: migrate:", oneLine(cfg.Scrub(err.Error())))
		return 1
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "the database %s is up to date\n", name)
	}
	return 0
}

const usersUsage = "usage: zectre-auth users disable|enable|promote|demote|revoke-tokens EMAIL [--config FILE]\n"

// userActions are the users command's actions, by name.
var userActions = map[string]func(ctx context.Context, st *cache.Store, email string) error{
	"disable": func(ctx context.Context, st *cache.Store, email string) error {
		_, err := st.SetDisabled(ctx, email, true)
		return err
	},
	"enable": func(ctx context.Context, st *cache.Store, email string) error {
		_, err := st.SetDisabled(ctx, email, false)
		return err
	},
	"promote": func(ctx context.Context, st *cache.Store, email string) error {
		_, err := st.SetAdmin(ctx, email, true)
		return err
	},
	"demote": func(ctx context.Context, st *cache.Store, email string) error {
		_, err := st.SetAdmin(ctx, email, false)
		return err
	},
	// Log out everywhere: every token issued before now is refused; API
	// keys keep working.
	"revoke-tokens": func(ctx context.Context, st *cache.Store, email string) error {
		_, err := st.RevokeTokens(ctx, email, time.Now())
		return err
	},
}

// userActionDone is what an action reports, where "<action>d" does not read.
var userActionDone = map[string]string{"revoke-tokens": "revoked the tokens (not the API keys) of"}

// users changes an account of the service's database. It opens only an
// existing, migrated database, so that a run from the wrong directory does
// not create an empty one and report that the account does not exist, and
// every answer names the database it used.
func users(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, usersUsage)
		return 0
	}
	if len(args) < 2 {
		fmt.Fprint(stderr, usersUsage)
		return 2
	}
	action := args[0]
	email, _ := store.NormalizeEmail(args[1])
	do, ok := userActions[action]
	if !ok {
		fmt.Fprintf(stderr, "zectre-auth: users: unknown action %q (want disable, enable, promote, demote or revoke-tokens)\n", action)
		return 2
	}
	cfg, _, err := loadConfig("users", args[2:], stdout, stderr)
	if err != nil {
		return status(err)
	}
	ctx := context.Background()
	st, closeStore, code := openStore(ctx, cfg, store.OpenExisting, slog.New(slog.NewTextHandler(stderr, nil)), stderr)
	if code != 0 {
		return code
	}
	defer closeStore()
	name := cfg.DatabaseName()
	err = do(ctx, st, email)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(stderr, "zectre-auth: users: no account has the email %s in the database %s\n", email, name)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "zectre-auth: users: the database %s: %s\n", name, oneLine(cfg.Scrub(err.Error())))
		return 1
	}
	done, ok := userActionDone[action]
	if !ok {
		done = action + "d"
	}
	fmt.Fprintf(stdout, "%s %s in the database %s\n", done, email, name)
	return 0
}
