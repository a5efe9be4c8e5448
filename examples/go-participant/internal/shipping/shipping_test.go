package shipping_test

import (
	"context"
	"errors"
	"testing"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
	"github.com/saga-coordinator/examples/go-participant/internal/effects"
	"github.com/saga-coordinator/examples/go-participant/internal/shipping"
	"github.com/saga-coordinator/examples/go-participant/internal/sqlitedb"
)

func TestParsePayload(t *testing.T) {
	if p, err := shipping.ParsePayload([]byte(`{"address":" 1 Main St ","extra":1}`)); err != nil || p.Address != "1 Main St" {
		t.Fatalf("%+v %v", p, err)
	}
	for payload, want := range map[string]string{
		`{"address": ""}`: "no delivery address",
		`{"address":" "}`: "no delivery address",
		`{}`:              "no delivery address",
		``:                "no delivery address",
		`null`:            "no delivery address",
		`{"address":1}`:   "payload must be JSON",
		`[`:               "payload must be JSON",
	} {
		_, err := shipping.ParsePayload([]byte(payload))
		var bf *barrier.BusinessFailure
		if !errors.As(err, &bf) || len(bf.Message) < len(want) || bf.Message[:len(want)] != want {
			t.Fatalf("payload %q: %v, want a business failure %q", payload, err, want)
		}
	}
}

type fixture struct {
	db      *sqlitedb.DB
	ship    *shipping.Service
	counter *effects.Counter
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, sqlitedb.Memory, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	counter, err := effects.New(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	ship, err := shipping.New(ctx, db.DB, counter, shipping.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db, ship, counter}
}

func TestShipThenCancel(t *testing.T) {
	f, ctx := newFixture(t), context.Background()
	b, _ := barrier.New(ctx, f.db.DB, barrier.Options{})
	step := f.ship.Steps()[shipping.StepShip]
	req := &sagav1.ExecuteRequest{SagaId: "s1", Step: "ship", Payload: []byte(`{"address":"1 Main St"}`)}
	if _, _, err := b.Execute(ctx, "s1/ship", func(ctx context.Context, c *barrier.ExecuteClaim) ([]byte, error) {
		return step.Execute(ctx, req, c)
	}); err != nil {
		t.Fatal(err)
	}
	if sh, _ := f.ship.Get(ctx, "s1/ship"); sh == nil || sh.Status != "created" || sh.Address != "1 Main St" {
		t.Fatalf("shipment %+v", sh)
	}
	creq := &sagav1.CompensateRequest{SagaId: "s1", Step: "ship", Reason: "payment failed"}
	if _, err := b.Compensate(ctx, "s1/ship", func(ctx context.Context, c *barrier.CompensateClaim) error {
		return step.Compensate(ctx, creq, c)
	}); err != nil {
		t.Fatal(err)
	}
	if sh, _ := f.ship.Get(ctx, "s1/ship"); sh == nil || sh.Status != "cancelled" {
		t.Fatalf("shipment %+v", sh)
	}
	if c, _ := f.counter.CountsFor(ctx, "s1/ship/execute"); c != (effects.Counts{Executed: 1, Compensated: 1}) {
		t.Fatalf("counts %+v", c)
	}
}

// A process died inside ship, before its transaction: nothing was created,
// so compensating the interrupted Execute cancels nothing and counts nothing.
func TestCompensatingAnInterruptedShip(t *testing.T) {
	f, ctx := newFixture(t), context.Background()
	dead, _ := barrier.New(ctx, f.db.DB, barrier.Options{})
	started := make(chan struct{})
	go func() {
		_, _, _ = dead.Execute(ctx, "s1/ship", func(context.Context, *barrier.ExecuteClaim) ([]byte, error) {
			close(started)
			select {} // killed before it committed
		})
	}()
	<-started
	restarted, _ := barrier.New(ctx, f.db.DB, barrier.Options{})
	step := f.ship.Steps()[shipping.StepShip]
	res, err := restarted.Compensate(ctx, "s1/ship", func(ctx context.Context, c *barrier.CompensateClaim) error {
		return step.Compensate(ctx, &sagav1.CompensateRequest{SagaId: "s1", Step: "ship"}, c)
	})
	if err != nil || res != barrier.ResultCompensated {
		t.Fatalf("%v %v", res, err)
	}
	if sh, _ := f.ship.Get(ctx, "s1/ship"); sh != nil {
		t.Fatalf("shipment %+v", sh)
	}
	if c, _ := f.counter.CountsFor(ctx, "s1/ship/execute"); c != (effects.Counts{}) {
		t.Fatalf("counts %+v", c)
	}
}
