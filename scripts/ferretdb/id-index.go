package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB's SQLite backend uses
)

// FerretDB 1.24's SQLite backend pushes a filter on _id alone down to SQLite
// as `_ferretdb_sjson->'$._id' = ?`, but indexes _id on the expression
// `_ferretdb_sjson->"_id"`. SQLite uses an expression index only for the very
// expression it was made on, so every lookup, update and delete by _id reads
// the whole table (200 ms per 100 000 documents here). indexIDs adds an index
// on the pushed-down expression to every collection's table as tables appear;
// FerretDB neither knows nor minds it, and a dropped collection drops it too.
const idIndexSuffix = "_id_pushdown"

// How often new tables are looked for: a table is indexed while still empty,
// or nearly so, within this time of its creation.
const idIndexEvery = 200 * time.Millisecond

func indexIDs(ctx context.Context, dir string, logger *slog.Logger) {
	ticker := time.NewTicker(idIndexEvery)
	defer ticker.Stop()
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
		for _, file := range files {
			if err := indexDatabase(ctx, file); err != nil && ctx.Err() == nil {
				logger.Debug("indexing _id", "file", file, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// indexDatabase indexes the tables of one database file that lack the index.
// The file is opened afresh each time: a dropped database's file is removed
// and may be created again by FerretDB.
func indexDatabase(ctx context.Context, file string) error {
	uri := "file:" + (&url.URL{Path: filepath.ToSlash(file)}).EscapedPath() + "?_pragma=busy_timeout(10000)&mode=rw"
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `
		SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE '\_ferretdb\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		AND name || ? NOT IN (SELECT name FROM sqlite_master WHERE type = 'index')`, idIndexSuffix)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+idIndexSuffix, table)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}
