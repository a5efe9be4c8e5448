package barrier

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// State is the lifecycle state of one step's barrier record. Execute and
// Compensate of the same step share the record (key "<saga_id>/<step>"), so
// one conditional write decides every race between them:
//
//	(none) --Execute claims--> executing --handler returns--> executed --Compensate claims--> compensating --> compensated
//	                               |  \--BusinessFailure--> failed
//	                               \--handler fails: record deleted (a retry runs the handler again)
//	(none) --Compensate first--> tombstone   (null compensation; a later Execute is ABORTED)
type State string

const (
	StateExecuting    State = "executing"
	StateExecuted     State = "executed"
	StateFailed       State = "failed"
	StateCompensating State = "compensating"
	StateCompensated  State = "compensated"
	StateTombstone    State = "tombstone"
)

// ExecuteOutcome is what the barrier knows about the Execute when a Compensate handler runs.
type ExecuteOutcome string

const (
	// OutcomeCompleted: Execute's handler finished; its effect is in place.
	OutcomeCompleted ExecuteOutcome = "completed"
	// OutcomeInterrupted: Execute's handler started but its process died. With
	// Commit (one transaction for the effect and the record) nothing was applied.
	OutcomeInterrupted ExecuteOutcome = "interrupted"
)

// Record is one step's barrier record. Every write increments Version.
type Record struct {
	Key     string
	State   State
	Version int64
	// While executing/compensating: the claim of the call that holds the record
	// ("<process instance>:<call>"); empty once released.
	Owner string
	// executed/compensating/compensated: Execute's output.
	Output []byte
	// failed: the BusinessFailure message, replayed to repeated Executes.
	Failure string
	// compensating/compensated: how the Execute had ended.
	ExecuteOutcome ExecuteOutcome
	UpdatedAt      time.Time
}

// match is the condition of a conditional write: State always, Version and Owner when set.
type match struct {
	State   State
	Version int64
	Owner   string
}

const schema = `
CREATE TABLE IF NOT EXISTS barrier (
  key             TEXT PRIMARY KEY,
  state           TEXT NOT NULL,
  version         INTEGER NOT NULL,
  owner           TEXT NOT NULL DEFAULT '',
  output          BLOB,
  failure         TEXT NOT NULL DEFAULT '',
  execute_outcome TEXT NOT NULL DEFAULT '',
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID`

// store: the four atomic single-record operations the barrier is built on.
type store struct{ db *sql.DB }

// execer is *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertIfAbsent inserts rec unless a record with its key exists; it then
// returns that record instead (nil if it vanished in between: try again).
func (s store) insertIfAbsent(ctx context.Context, rec Record) (existing *Record, inserted bool, err error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO barrier (key, state, version, owner, output, failure, execute_outcome, updated_at)
		 VALUES (?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		rec.Key, string(rec.State), rec.Owner, nonNil(rec.Output), rec.Failure, string(rec.ExecuteOutcome), nowMs())
	if err != nil {
		return nil, false, &StoreError{Op: "insert " + rec.Key, Err: err}
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, false, &StoreError{Op: "insert " + rec.Key, Err: err}
	} else if n == 1 {
		return nil, true, nil
	}
	existing, err = s.get(ctx, rec.Key)
	return existing, false, err
}

// update replaces the content of the record at key if it matches m.
func (s store) update(ctx context.Context, x execer, key string, m match, content Record) (bool, error) {
	res, err := x.ExecContext(ctx,
		`UPDATE barrier SET state = ?, version = version + 1, owner = ?, output = ?, failure = ?,
		   execute_outcome = ?, updated_at = ?
		 WHERE key = ? AND state = ? AND (? = 0 OR version = ?) AND (? = '' OR owner = ?)`,
		string(content.State), content.Owner, nonNil(content.Output), content.Failure, string(content.ExecuteOutcome), nowMs(),
		key, string(m.State), m.Version, m.Version, m.Owner, m.Owner)
	if err != nil {
		return false, &StoreError{Op: "update " + key, Err: err}
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, &StoreError{Op: "update " + key, Err: err}
	}
	return n == 1, nil
}

// remove deletes the record at key if it matches m.
func (s store) remove(ctx context.Context, key string, m match) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`DELETE FROM barrier WHERE key = ? AND state = ? AND (? = 0 OR version = ?) AND (? = '' OR owner = ?)`,
		key, string(m.State), m.Version, m.Version, m.Owner, m.Owner)
	if err != nil {
		return false, &StoreError{Op: "delete " + key, Err: err}
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, &StoreError{Op: "delete " + key, Err: err}
	}
	return n == 1, nil
}

// get reads the record at key (nil if there is none).
func (s store) get(ctx context.Context, key string) (*Record, error) {
	var (
		rec       Record
		state     string
		outcome   string
		updatedMs int64
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT key, state, version, owner, output, failure, execute_outcome, updated_at FROM barrier WHERE key = ?`, key,
	).Scan(&rec.Key, &state, &rec.Version, &rec.Owner, &rec.Output, &rec.Failure, &outcome, &updatedMs)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, &StoreError{Op: "get " + key, Err: err}
	}
	rec.State = State(state)
	rec.ExecuteOutcome = ExecuteOutcome(outcome)
	rec.UpdatedAt = time.UnixMilli(updatedMs)
	if rec.Output == nil {
		rec.Output = []byte{}
	}
	return &rec, nil
}

func nowMs() int64 { return time.Now().UnixMilli() }

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
