// Package barrier is the participant's idempotency barrier: it turns the
// coordinator's at-least-once delivery of Execute and Compensate into
// exactly-once effects, with the same rules as the TypeScript SDK's Barrier
// (participant-sdk/src/barrier/barrier.ts):
//
//   - duplicate: a repeated Execute returns the stored output (or the stored
//     business failure) without running the handler again;
//   - null compensation: Compensate of a step that never executed records a
//     tombstone and returns OK without running the handler;
//   - hanging: an Execute after that tombstone (or after a compensation) is
//     refused (ABORTED) and does nothing;
//   - repeated Compensate: runs the handler once;
//   - concurrent duplicates: one call runs the handler, the others wait for it
//     (up to InProgressWait, capped by their deadline) and then get its result
//     or an InProgress refusal (UNAVAILABLE: retry).
//
// There is one record per step, keyed "<saga_id>/<step>" and shared by Execute
// and Compensate; every decision is one conditional write on it. The records
// live in SQLite, so they survive a restart.
//
// Claims: a running handler holds its record with an owner token
// "<process instance>:<call>". The database belongs to one process at a time
// (sqlitedb takes an exclusive lock), so a claim whose instance is not the
// current process was left by a process that died mid-handler: it is taken
// over at once (no lease timeout to wait out). A retried Execute then runs the
// handler again, and a Compensate runs the compensation handler with
// OutcomeInterrupted. Handlers that write their effect with Commit make that
// safe: the effect and the barrier record commit in one transaction, so an
// interrupted Execute applied nothing.
package barrier

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultInProgressWait is how long a duplicate call waits for the call in progress by default.
const DefaultInProgressWait = 5 * time.Second

// Options of New.
type Options struct {
	// How long a duplicate call waits for an in-progress call of the same step
	// before it is refused with InProgress (UNAVAILABLE). Capped by the call's
	// own deadline. Negative: do not wait. Zero: DefaultInProgressWait.
	InProgressWait time.Duration
}

// Barrier is safe for concurrent use.
type Barrier struct {
	db             *sql.DB
	store          store
	instance       string
	inProgressWait time.Duration
}

// New creates the barrier's table if needed. db must be the only user of its
// file (see sqlitedb.Open) and should allow one connection only.
func New(ctx context.Context, db *sql.DB, opts Options) (*Barrier, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("barrier: create schema: %w", err)
	}
	wait := opts.InProgressWait
	if wait == 0 {
		wait = DefaultInProgressWait
	} else if wait < 0 {
		wait = 0
	}
	return &Barrier{db: db, store: store{db: db}, instance: randomToken(), inProgressWait: wait}, nil
}

// Abandoned counts records left "executing" or "compensating" by an earlier
// process (it died mid-handler); the next call for each takes it over.
func (b *Barrier) Abandoned(ctx context.Context) (int, error) {
	var n int
	err := b.db.QueryRowContext(ctx,
		`SELECT count(*) FROM barrier WHERE state IN (?, ?) AND owner NOT LIKE ? ESCAPE '\'`,
		string(StateExecuting), string(StateCompensating), escapeLike(b.instance)+":%").Scan(&n)
	return n, err
}

// Get returns the record at key ("<saga_id>/<step>"), nil if there is none.
func (b *Barrier) Get(ctx context.Context, key string) (*Record, error) {
	return b.store.get(ctx, key)
}

// ExecuteHandler applies a step's effect and returns its output. It should
// write its effect with claim.Commit (one transaction with the barrier record).
// Return a *BusinessFailure for a business "no" (only when nothing took
// effect); any other error is transient and lets a retry run the handler again.
type ExecuteHandler func(ctx context.Context, claim *ExecuteClaim) ([]byte, error)

// CompensateHandler undoes a step's effect, preferably with claim.Commit.
// Any error means "retry me": the next Compensate runs it again.
type CompensateHandler func(ctx context.Context, claim *CompensateClaim) error

// CompensateResult is what a Compensate through the barrier did.
type CompensateResult string

const (
	// ResultCompensated: the handler ran and its compensation is recorded.
	ResultCompensated CompensateResult = "compensated"
	// ResultNullCompensation: the step never executed: a tombstone was recorded, the handler did not run.
	ResultNullCompensation CompensateResult = "null-compensation"
	// ResultAlreadyDone: already compensated, a tombstone, or a business failure (nothing to undo).
	ResultAlreadyDone CompensateResult = "already-done"
)

// Execute runs handler at most once for key ("<saga_id>/<step>"), however
// often and however concurrently it is called, and returns its output to
// every caller. ran says whether this call ran the handler. Errors:
// *BusinessFailure (possibly replayed from the record), *Refusal,
// *StoreError, the context's error while waiting, or the handler's own error.
func (b *Barrier) Execute(ctx context.Context, key string, handler ExecuteHandler) (output []byte, ran bool, err error) {
	waitUntil := b.waitUntil(ctx)
	// Barrier writes must not be cut short by the caller: the record has to stay consistent.
	bg := context.WithoutCancel(ctx)
	for poll := 0; ; poll++ {
		owner := b.newOwner()
		existing, inserted, err := b.store.insertIfAbsent(bg, Record{Key: key, State: StateExecuting, Owner: owner})
		if err != nil {
			return nil, false, err
		}
		if inserted {
			out, err := b.runExecute(ctx, key, owner, handler)
			return out, true, err
		}
		if existing == nil {
			continue // deleted in between: claim again
		}
		switch existing.State {
		case StateExecuted:
			return existing.Output, false, nil
		case StateFailed:
			return nil, false, &BusinessFailure{Message: existing.Failure}
		case StateTombstone:
			return nil, false, &Refusal{Hanging, fmt.Sprintf("step %s was compensated before it executed; refusing to execute", key)}
		case StateCompensating, StateCompensated:
			return nil, false, &Refusal{Compensated, fmt.Sprintf("step %s has been compensated; refusing to execute again", key)}
		case StateExecuting:
			if b.abandoned(existing) {
				// Its process died: take the record over (one conditional write decides among takers).
				took, err := b.store.update(bg, b.db, key, match{State: StateExecuting, Version: existing.Version},
					Record{State: StateExecuting, Owner: owner})
				if err != nil {
					return nil, false, err
				}
				if took {
					out, err := b.runExecute(ctx, key, owner, handler)
					return out, true, err
				}
				continue
			}
			if err := b.waitForInProgress(ctx, key, poll, waitUntil); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, &StoreError{Op: "read " + key, Err: fmt.Errorf("unknown state %q", existing.State)}
		}
	}
}

// Compensate compensates key exactly once: it runs handler only if the step
// executed (or its Execute was interrupted) and records a tombstone if it never did.
func (b *Barrier) Compensate(ctx context.Context, key string, handler CompensateHandler) (CompensateResult, error) {
	waitUntil := b.waitUntil(ctx)
	bg := context.WithoutCancel(ctx)
	for poll := 0; ; poll++ {
		owner := b.newOwner()
		existing, inserted, err := b.store.insertIfAbsent(bg, Record{Key: key, State: StateTombstone})
		if err != nil {
			return "", err
		}
		if inserted {
			return ResultNullCompensation, nil
		}
		if existing == nil {
			continue
		}
		switch existing.State {
		case StateTombstone, StateCompensated, StateFailed: // a business failure took no effect: nothing to undo
			return ResultAlreadyDone, nil
		case StateExecuted:
			content := Record{State: StateCompensating, Owner: owner, Output: existing.Output, ExecuteOutcome: OutcomeCompleted}
			took, err := b.store.update(bg, b.db, key, match{State: StateExecuted, Version: existing.Version}, content)
			if err != nil {
				return "", err
			}
			if took {
				return b.runCompensate(ctx, key, content, handler)
			}
			continue
		case StateExecuting, StateCompensating:
			if b.abandoned(existing) {
				outcome := existing.ExecuteOutcome
				if existing.State == StateExecuting {
					outcome = OutcomeInterrupted // its process died mid-handler
				} else if outcome == "" {
					outcome = OutcomeCompleted
				}
				content := Record{State: StateCompensating, Owner: owner, Output: existing.Output, ExecuteOutcome: outcome}
				took, err := b.store.update(bg, b.db, key, match{State: existing.State, Version: existing.Version}, content)
				if err != nil {
					return "", err
				}
				if took {
					return b.runCompensate(ctx, key, content, handler)
				}
				continue
			}
			if err := b.waitForInProgress(ctx, key, poll, waitUntil); err != nil {
				return "", err
			}
		default:
			return "", &StoreError{Op: "read " + key, Err: fmt.Errorf("unknown state %q", existing.State)}
		}
	}
}

// ExecuteClaim is given to an ExecuteHandler running under the barrier.
type ExecuteClaim struct {
	b         *Barrier
	key       string
	owner     string
	committed bool
	output    []byte
}

// Key is the step's barrier key, "<saga_id>/<step>".
func (c *ExecuteClaim) Key() string { return c.key }

// Commit records the step as executed with output and, in the same SQLite
// transaction, runs write (the handler's business write and effect count;
// nil for none). Either both commit or neither does, so a process killed at
// any point never leaves an effect without its record. If write fails the
// transaction rolls back and its error is returned (a *BusinessFailure from
// write becomes the step's recorded business failure). write must use only
// tx: the database has a single connection.
func (c *ExecuteClaim) Commit(ctx context.Context, output []byte, write func(tx *sql.Tx) error) error {
	if c.committed {
		return errors.New("barrier: Execute already committed")
	}
	err := c.b.inTx(ctx, c.key, match{State: StateExecuting, Owner: c.owner},
		Record{State: StateExecuted, Output: nonNil(output)}, write)
	if err == nil {
		c.committed, c.output = true, nonNil(output)
	}
	return err
}

// CompensateClaim is given to a CompensateHandler running under the barrier.
type CompensateClaim struct {
	b       *Barrier
	key     string
	content Record
	// Execute's output as the barrier recorded it (empty if the Execute was interrupted).
	ExecuteOutput []byte
	// OutcomeCompleted, or OutcomeInterrupted when the Execute's process died mid-handler.
	ExecuteOutcome ExecuteOutcome
	committed      bool
}

// Key is the step's barrier key, "<saga_id>/<step>".
func (c *CompensateClaim) Key() string { return c.key }

// Commit records the step as compensated and runs write in the same transaction (see ExecuteClaim.Commit).
func (c *CompensateClaim) Commit(ctx context.Context, write func(tx *sql.Tx) error) error {
	if c.committed {
		return errors.New("barrier: Compensate already committed")
	}
	err := c.b.inTx(ctx, c.key, match{State: StateCompensating, Owner: c.content.Owner}, c.compensated(), write)
	if err == nil {
		c.committed = true
	}
	return err
}

func (c *CompensateClaim) compensated() Record {
	return Record{State: StateCompensated, Output: c.content.Output, ExecuteOutcome: c.content.ExecuteOutcome}
}

func (b *Barrier) runExecute(ctx context.Context, key, owner string, handler ExecuteHandler) ([]byte, error) {
	bg := context.WithoutCancel(ctx)
	held := match{State: StateExecuting, Owner: owner}
	claim := &ExecuteClaim{b: b, key: key, owner: owner}
	output, err := callExecute(ctx, handler, claim)
	if err != nil {
		var business *BusinessFailure
		if errors.As(err, &business) && !claim.committed {
			ok, werr := retryWrite(bg, func() (bool, error) {
				return b.store.update(bg, b.db, key, held, Record{State: StateFailed, Failure: business.Message})
			})
			if werr != nil {
				return nil, werr
			}
			if !ok {
				return nil, lostLease(key)
			}
			return nil, business
		}
		// Release the claim so a retry can run the handler (no-op if the handler had committed).
		// If even that fails, the claim is taken over when this process restarts.
		_, _ = b.store.remove(bg, key, held)
		return nil, err
	}
	if claim.committed {
		return claim.output, nil
	}
	ok, err := retryWrite(bg, func() (bool, error) {
		return b.store.update(bg, b.db, key, held, Record{State: StateExecuted, Output: nonNil(output)})
	})
	if err != nil {
		return nil, err
	}
	if ok {
		return nonNil(output), nil
	}
	if rec, err := b.store.get(bg, key); err == nil && rec != nil && rec.State == StateExecuted {
		return rec.Output, nil
	}
	return nil, lostLease(key)
}

func (b *Barrier) runCompensate(ctx context.Context, key string, content Record, handler CompensateHandler) (CompensateResult, error) {
	bg := context.WithoutCancel(ctx)
	held := match{State: StateCompensating, Owner: content.Owner}
	claim := &CompensateClaim{
		b: b, key: key, content: content,
		ExecuteOutput: nonNil(content.Output), ExecuteOutcome: content.ExecuteOutcome,
	}
	if err := callCompensate(ctx, handler, claim); err != nil {
		if !claim.committed {
			// Stay "compensating" but released: the next Compensate takes over at once,
			// and a late Execute is still refused.
			released := content
			released.Owner = ""
			_, _ = b.store.update(bg, b.db, key, held, released)
		}
		return "", err
	}
	if claim.committed {
		return ResultCompensated, nil
	}
	ok, err := retryWrite(bg, func() (bool, error) { return b.store.update(bg, b.db, key, held, claim.compensated()) })
	if err != nil {
		return "", err
	}
	if ok {
		return ResultCompensated, nil
	}
	if rec, err := b.store.get(bg, key); err == nil && rec != nil && rec.State == StateCompensated {
		return ResultCompensated, nil
	}
	return "", lostLease(key)
}

// inTx writes the final record (if the claim is still held) and the caller's write in one transaction.
func (b *Barrier) inTx(ctx context.Context, key string, held match, final Record, write func(tx *sql.Tx) error) error {
	bg := context.WithoutCancel(ctx)
	tx, err := b.db.BeginTx(bg, nil)
	if err != nil {
		return &StoreError{Op: "begin " + key, Err: err}
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	ok, err := b.store.update(bg, tx, key, held, final)
	if err != nil {
		return err
	}
	if !ok {
		return lostLease(key)
	}
	if write != nil {
		if err := write(tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return &StoreError{Op: "commit " + key, Err: err}
	}
	return nil
}

// callExecute runs the handler, turning a panic into an error (the claim is then released).
func callExecute(ctx context.Context, handler ExecuteHandler, claim *ExecuteClaim) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("execute handler panicked: %v", r)
		}
	}()
	return handler(ctx, claim)
}

func callCompensate(ctx context.Context, handler CompensateHandler, claim *CompensateClaim) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compensate handler panicked: %v", r)
		}
	}()
	return handler(ctx, claim)
}

// abandoned: the record is not held by a live call of this process.
func (b *Barrier) abandoned(rec *Record) bool {
	return rec.Owner == "" || !strings.HasPrefix(rec.Owner, b.instance+":")
}

func (b *Barrier) newOwner() string { return b.instance + ":" + randomToken() }

func (b *Barrier) waitUntil(ctx context.Context) time.Time {
	until := time.Now().Add(b.inProgressWait)
	if deadline, ok := ctx.Deadline(); ok {
		// Leave the caller time to send its answer before its own deadline.
		if byDeadline := deadline.Add(-50 * time.Millisecond); byDeadline.Before(until) {
			until = byDeadline
		}
	}
	return until
}

func (b *Barrier) waitForInProgress(ctx context.Context, key string, poll int, until time.Time) error {
	delay := 5 * time.Millisecond
	for i := 0; i < poll && delay < 100*time.Millisecond; i++ {
		delay = delay * 3 / 2
	}
	delay = min(delay, 100*time.Millisecond)
	if time.Now().Add(delay).After(until) {
		return &Refusal{InProgress, fmt.Sprintf("another call for step %s is still in progress; retry", key)}
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryWrite retries a final record write briefly after a store error (about
// 1.5 s): once a handler's effect is applied, losing its record would let a
// retry run the handler again.
func retryWrite(ctx context.Context, write func() (bool, error)) (bool, error) {
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ok, err := write()
		if err == nil || attempt == 5 {
			return ok, err
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

func lostLease(key string) error {
	return &Refusal{LeaseLost, fmt.Sprintf("the claim on step %s was taken over by another call; retry", key)}
}

func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
