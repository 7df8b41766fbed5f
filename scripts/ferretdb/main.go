// Command ferretdb runs an embedded FerretDB 1.x with its SQLite backend: a
// real MongoDB wire-protocol server for the store tests, with no database
// server to install. scripts/install-tools.sh builds it into
// .cache/tools/bin/ferretdb.
//
// FerretDB's own cmd/ferretdb is not used: installed with `go install` it
// panics at start-up on its missing build/version/version.txt.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// exitBind is the exit status when the listen address cannot be bound, so a
// caller that picked a free port can tell a lost race from other failures.
const exitBind = 3

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (host:port)")
	dir := flag.String("dir", "", "directory of the SQLite databases (created if missing)")
	logLevel := flag.String("log-level", "error", "log level: debug, info, warn or error")
	flag.Parse()

	if *dir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: ferretdb -listen 127.0.0.1:PORT -dir DATA_DIR")
		os.Exit(2)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: -log-level: %s\n", err)
		os.Exit(2)
	}
	logger := slog.New(lazyAttrs{base: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})})

	abs, err := filepath.Abs(*dir)
	if err != nil {
		fail(err)
	}
	if err = os.MkdirAll(abs, 0o700); err != nil {
		fail(err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  "sqlite",
		// The SQLite backend wants a "file:" URI naming an existing directory, ending with "/".
		SQLiteURL: "file:" + filepath.ToSlash(abs) + "/",
	})
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			fmt.Fprintf(os.Stderr, "ferretdb: cannot listen on %s: %s\n", *listen, err)
			os.Exit(exitBind)
		}
		fail(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	go indexIDs(ctx, abs, logger)

	if err = f.Run(ctx); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "ferretdb: %s\n", err)
	os.Exit(1)
}
