// Package shipping is the example's business logic: a shipping service with
// one saga step, "ship", that creates a shipment (Compensate cancels it).
// Shipments live in the participant's SQLite database and are written in the
// same transaction as the barrier record and the effect count.
package shipping

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
	"github.com/saga-coordinator/examples/go-participant/internal/effects"
	"github.com/saga-coordinator/examples/go-participant/internal/server"
)

// StepShip is the step that ships an order.
const StepShip = "ship"

// Carrier is the (fictional) carrier every shipment goes with.
const Carrier = "ACME Parcel"

// Payload of the ship step: {"address": "1 Main St"}.
type Payload struct {
	Address string `json:"address"`
}

// Output of the ship step.
type Output struct {
	ShipmentID     string `json:"shipmentId"`
	TrackingNumber string `json:"trackingNumber"`
	Carrier        string `json:"carrier"`
	Address        string `json:"address"`
}

const schema = `
CREATE TABLE IF NOT EXISTS shipments (
  step_key        TEXT PRIMARY KEY,   -- "<saga_id>/<step>"
  saga_id         TEXT NOT NULL,
  tracking_number TEXT NOT NULL UNIQUE,
  address         TEXT NOT NULL,
  status          TEXT NOT NULL,      -- "created" | "cancelled"
  created_at      INTEGER NOT NULL,
  cancelled_at    INTEGER,
  cancel_reason   TEXT
) WITHOUT ROWID`

// Service holds the shipments.
type Service struct {
	db      *sql.DB
	effects *effects.Counter
	latency time.Duration
	logger  *slog.Logger
}

// Options of New.
type Options struct {
	// Simulated carrier latency of every ship Execute (tests).
	Latency time.Duration
	Logger  *slog.Logger
}

// New creates the shipments table if needed.
func New(ctx context.Context, db *sql.DB, counter *effects.Counter, opts Options) (*Service, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("shipping: create schema: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, effects: counter, latency: opts.Latency, logger: logger}, nil
}

// Steps are the participant's steps: ship, plus the conformance kit's effect-count step.
func (s *Service) Steps() map[string]server.StepHandlers {
	return map[string]server.StepHandlers{
		StepShip:     {Execute: s.ship, Compensate: s.cancel},
		effects.Step: server.EffectsStep(s.effects),
	}
}

// ParsePayload reads the ship payload; a missing or blank address is a business failure.
func ParsePayload(payload []byte) (Payload, error) {
	var p Payload
	if len(bytes.TrimSpace(payload)) > 0 {
		if err := json.Unmarshal(payload, &p); err != nil {
			return Payload{}, barrier.Failf(`payload must be JSON {"address": "..."}: %v`, err)
		}
	}
	p.Address = strings.TrimSpace(p.Address)
	if p.Address == "" {
		return Payload{}, barrier.Failf("no delivery address")
	}
	return p, nil
}

// ship creates the shipment. It runs at most once per saga (the barrier).
func (s *Service) ship(ctx context.Context, req *sagav1.ExecuteRequest, claim *barrier.ExecuteClaim) ([]byte, error) {
	if claim == nil {
		return nil, fmt.Errorf("step %s needs the barrier", StepShip)
	}
	p, err := ParsePayload(req.GetPayload())
	if err != nil {
		return nil, err
	}
	if s.latency > 0 { // the carrier's API, simulated
		// Tests wait for this line to know a call is inside the handler (e.g. before killing the process).
		s.logger.Info("calling the carrier", "sagaId", req.GetSagaId(), "latency", s.latency.String())
		t := time.NewTimer(s.latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil { // the coordinator gave up on this attempt: apply nothing
		return nil, err
	}
	out := Output{
		ShipmentID:     "shp-" + req.GetSagaId(),
		TrackingNumber: "TRK" + strings.ToUpper(randomHex(6)),
		Carrier:        Carrier,
		Address:        p.Address,
	}
	output, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	// The shipment, its effect count and the barrier record commit together.
	err = claim.Commit(ctx, output, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO shipments (step_key, saga_id, tracking_number, address, status, created_at)
			 VALUES (?, ?, ?, ?, 'created', ?)`,
			claim.Key(), req.GetSagaId(), out.TrackingNumber, out.Address, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("shipping: create shipment: %w", err)
		}
		return s.effects.Executed(ctx, tx, claim.Key())
	})
	if err != nil {
		return nil, err
	}
	s.logger.Info("shipment created", "sagaId", req.GetSagaId(), "trackingNumber", out.TrackingNumber)
	return output, nil
}

// cancel cancels the shipment. It runs only if ship executed here, at most once.
func (s *Service) cancel(ctx context.Context, req *sagav1.CompensateRequest, claim *barrier.CompensateClaim) error {
	if claim == nil {
		return fmt.Errorf("step %s needs the barrier", StepShip)
	}
	cancelled := false
	err := claim.Commit(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE shipments SET status = 'cancelled', cancelled_at = ?, cancel_reason = ?
			 WHERE step_key = ? AND status = 'created'`,
			time.Now().UnixMilli(), req.GetReason(), claim.Key())
		if err != nil {
			return fmt.Errorf("shipping: cancel shipment: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			// An interrupted Execute committed nothing: there is no shipment to cancel.
			return err
		}
		cancelled = true
		return s.effects.Compensated(ctx, tx, claim.Key())
	})
	if err != nil {
		return err
	}
	if cancelled {
		s.logger.Info("shipment cancelled", "sagaId", req.GetSagaId(), "reason", req.GetReason())
	} else {
		s.logger.Info("nothing to cancel: the Execute was interrupted before it created a shipment",
			"sagaId", req.GetSagaId(), "executeOutcome", string(claim.ExecuteOutcome))
	}
	return nil
}

// Shipment is a stored shipment (for tests and operators).
type Shipment struct {
	TrackingNumber string
	Address        string
	Status         string
}

// Get returns the shipment of step key "<saga_id>/<step>" (nil if none).
func (s *Service) Get(ctx context.Context, stepKey string) (*Shipment, error) {
	var sh Shipment
	err := s.db.QueryRowContext(ctx, `SELECT tracking_number, address, status FROM shipments WHERE step_key = ?`, stepKey).
		Scan(&sh.TrackingNumber, &sh.Address, &sh.Status)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &sh, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
