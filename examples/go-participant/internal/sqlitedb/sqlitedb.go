// Package sqlitedb opens the participant's SQLite database (pure Go, via
// modernc.org/sqlite): the barrier records, the effect counts and the
// shipments all live in it, so one transaction can cover a business write and
// its barrier record.
//
// One process owns a database file at a time: Open takes an exclusive lock on
// "<path>.lock" (flock, released by the kernel when the process dies, even on
// SIGKILL). That is what lets the barrier treat every claim left by an
// earlier process as abandoned the moment a new process starts.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Memory is the path of a private in-memory database (lost on exit; tests).
const Memory = ":memory:"

// DB is an open database and the lock that makes this process its only user.
type DB struct {
	*sql.DB
	Path string
	lock *os.File
}

// Options of Open.
type Options struct {
	// How long to wait for another process to release the database (for
	// example a participant that is still draining after SIGTERM). 0: fail at once.
	LockWait time.Duration
}

// ErrLocked is returned (wrapped) when another process holds the database.
var ErrLocked = errors.New("database is in use by another process")

// Open opens (creating if needed) the database at path, or a private
// in-memory one for Memory.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlitedb: empty path")
	}
	var lock *os.File
	if path != Memory {
		var err error
		if lock, err = acquireLock(ctx, path+".lock", opts.LockWait); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		releaseLock(lock)
		return nil, fmt.Errorf("sqlitedb: open %s: %w", path, err)
	}
	// One connection: SQLite serialises writers anyway, this way there is no
	// SQLITE_BUSY between our own goroutines, and an in-memory database (which
	// lives and dies with its connection) is never dropped. Never hold a
	// transaction while waiting on something else.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		releaseLock(lock)
		return nil, fmt.Errorf("sqlitedb: open %s: %w", path, err)
	}
	return &DB{DB: db, Path: path, lock: lock}, nil
}

// Close closes the database, then releases the lock.
func (d *DB) Close() error {
	err := d.DB.Close()
	releaseLock(d.lock)
	d.lock = nil
	return err
}

func dsn(path string) string {
	// WAL + synchronous=FULL: a committed transaction survives a killed process
	// and a power cut. busy_timeout covers other tools reading the file.
	pragmas := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)"} {
		pragmas.Add("_pragma", p)
	}
	if path == Memory {
		return "file::memory:?" + pragmas.Encode()
	}
	// A "file:" URI, so that any character in the path is escaped.
	u := url.URL{Scheme: "file", Path: path, RawQuery: pragmas.Encode()}
	if !strings.HasPrefix(path, "/") {
		u = url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath(), RawQuery: pragmas.Encode()}
	}
	return u.String()
}

func acquireLock(ctx context.Context, lockPath string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlitedb: lock file: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		locked, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("sqlitedb: lock %s: %w", lockPath, err)
		}
		if locked {
			return f, nil
		}
		if !time.Now().Before(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("sqlitedb: %s: %w (lock %s held)", strings.TrimSuffix(lockPath, ".lock"), ErrLocked, lockPath)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func releaseLock(f *os.File) {
	if f != nil {
		unlock(f)
		_ = f.Close()
	}
}
