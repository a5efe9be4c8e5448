// Package effects counts applied effects per saga step and answers the
// conformance kit's effect-count queries (the reserved step
// "conformance.effects", see participant-sdk/README.md "Effect-count step").
//
// Counts live in the participant's SQLite database, keyed "<saga_id>/<step>",
// and are incremented inside the same transaction as the effect itself, so
// they survive restarts and count exactly the effects that were applied:
// replays from the barrier, null compensations, refused Executes and
// business failures count nothing.
package effects

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// Step is the reserved step name of the effect-count protocol.
const Step = "conformance.effects"

// Counts is the answer to an effect-count query.
type Counts struct {
	Executed    int64 `json:"executed"`
	Compensated int64 `json:"compensated"`
}

// Query is the payload of an Execute of Step.
type Query struct {
	IdempotencyKey *string `json:"idempotency_key"`
}

const schema = `
CREATE TABLE IF NOT EXISTS effects (
  key         TEXT PRIMARY KEY,
  executed    INTEGER NOT NULL DEFAULT 0,
  compensated INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID`

// Counter reads and writes the counts.
type Counter struct{ db *sql.DB }

// New creates the table if needed.
func New(ctx context.Context, db *sql.DB) (*Counter, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("effects: create schema: %w", err)
	}
	return &Counter{db: db}, nil
}

// Executed counts one applied Execute effect of stepKey ("<saga_id>/<step>"), inside tx.
func (c *Counter) Executed(ctx context.Context, tx *sql.Tx, stepKey string) error {
	return c.add(ctx, tx, stepKey, 1, 0)
}

// Compensated counts one applied Compensate effect of stepKey, inside tx.
func (c *Counter) Compensated(ctx context.Context, tx *sql.Tx, stepKey string) error {
	return c.add(ctx, tx, stepKey, 0, 1)
}

func (c *Counter) add(ctx context.Context, tx *sql.Tx, stepKey string, executed, compensated int) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO effects (key, executed, compensated) VALUES (?, ?, ?)
		 ON CONFLICT (key) DO UPDATE SET executed = executed + excluded.executed,
		   compensated = compensated + excluded.compensated`,
		stepKey, executed, compensated)
	if err != nil {
		return fmt.Errorf("effects: count %s: %w", stepKey, err)
	}
	return nil
}

// CountsFor returns the counts of the step whose Execute key is
// "<saga_id>/<step>/execute" (zeros if never seen).
func (c *Counter) CountsFor(ctx context.Context, executeKey string) (Counts, error) {
	stepKey, ok := strings.CutSuffix(executeKey, "/execute")
	if !ok {
		return Counts{}, &QueryError{fmt.Sprintf(`idempotency_key must be "<saga_id>/<step>/execute", got %q`, executeKey)}
	}
	var counts Counts
	err := c.db.QueryRowContext(ctx, `SELECT executed, compensated FROM effects WHERE key = ?`, stepKey).
		Scan(&counts.Executed, &counts.Compensated)
	if err == sql.ErrNoRows {
		return Counts{}, nil
	}
	if err != nil {
		return Counts{}, fmt.Errorf("effects: read %s: %w", stepKey, err)
	}
	return counts, nil
}

// Answer parses an effect-count query payload and returns the JSON answer.
func (c *Counter) Answer(ctx context.Context, payload []byte) ([]byte, error) {
	var q Query
	if err := json.Unmarshal(payload, &q); err != nil || q.IdempotencyKey == nil {
		return nil, &QueryError{`payload must be JSON {"idempotency_key": "<saga_id>/<step>/execute"}`}
	}
	counts, err := c.CountsFor(ctx, *q.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	return json.Marshal(counts)
}

// QueryError is a malformed effect-count query (answered FAILED_PRECONDITION).
type QueryError struct{ Message string }

func (e *QueryError) Error() string { return e.Message }
