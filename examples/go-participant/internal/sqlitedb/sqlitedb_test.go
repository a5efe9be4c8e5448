package sqlitedb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/saga-coordinator/examples/go-participant/internal/sqlitedb"
)

func TestOneProcessPerFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dir with space", "p.db")
	if _, err := sqlitedb.Open(ctx, path, sqlitedb.Options{}); err == nil {
		t.Fatal("opened a database in a missing directory")
	}
	path = filepath.Join(t.TempDir(), "p?x#y.db")
	db, err := sqlitedb.Open(ctx, path, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode %q %v, want wal", mode, err)
	}
	if _, err := db.Exec(`CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}

	began := time.Now()
	if _, err := sqlitedb.Open(ctx, path, sqlitedb.Options{LockWait: 200 * time.Millisecond}); !errors.Is(err, sqlitedb.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if time.Since(began) < 200*time.Millisecond {
		t.Fatal("did not wait for the lock")
	}
	// Released on Close; a waiting Open gets it.
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = db.Close()
	}()
	db2, err := sqlitedb.Open(ctx, path, sqlitedb.Options{LockWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var v string
	if err := db2.QueryRow(`SELECT v FROM t`).Scan(&v); err != nil || v != "kept" {
		t.Fatalf("%q %v", v, err)
	}
}

func TestMemoryDatabasesArePrivate(t *testing.T) {
	ctx := context.Background()
	a, err := sqlitedb.Open(ctx, sqlitedb.Memory, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlitedb.Open(ctx, sqlitedb.Memory, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Exec(`CREATE TABLE only_in_a (x)`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(`CREATE TABLE only_in_a (x)`); err != nil {
		t.Fatalf("in-memory databases share state: %v", err)
	}
}
