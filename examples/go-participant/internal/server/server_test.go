package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
	"github.com/saga-coordinator/examples/go-participant/internal/effects"
	"github.com/saga-coordinator/examples/go-participant/internal/server"
	"github.com/saga-coordinator/examples/go-participant/internal/shipping"
	"github.com/saga-coordinator/examples/go-participant/internal/sqlitedb"
)

const address = `{"address":"1 Main St"}`

// participant is a shipping participant served over real gRPC on a free port.
type participant struct {
	db     *sqlitedb.DB
	srv    *server.Server
	client sagav1.ParticipantServiceClient
	health healthpb.HealthClient
}

type opts struct {
	db             string
	latency        time.Duration
	inProgressWait time.Duration
}

func start(t *testing.T, o opts) *participant {
	t.Helper()
	ctx := context.Background()
	if o.db == "" {
		o.db = sqlitedb.Memory
	}
	db, err := sqlitedb.Open(ctx, o.db, sqlitedb.Options{LockWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := barrier.New(ctx, db.DB, barrier.Options{InProgressWait: o.inProgressWait})
	if err != nil {
		t.Fatal(err)
	}
	counter, err := effects.New(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	ship, err := shipping.New(ctx, db.DB, counter, shipping.Options{Latency: o.latency})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := server.NewService(ship.Steps(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Listen("127.0.0.1:0", svc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	p := &participant{db: db, srv: srv, client: sagav1.NewParticipantServiceClient(conn), health: healthpb.NewHealthClient(conn)}
	t.Cleanup(func() {
		_ = conn.Close()
		p.stop()
	})
	return p
}

func (p *participant) stop() {
	p.srv.Shutdown(context.Background(), 5*time.Second)
	_ = p.db.Close()
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (p *participant) execute(t *testing.T, sagaID, step, payload string, attempt uint32) ([]byte, error) {
	res, err := p.client.Execute(callCtx(t), &sagav1.ExecuteRequest{
		SagaId: sagaID, SagaType: "order", Step: step, IdempotencyKey: sagaID + "/" + step + "/execute",
		Attempt: attempt, Payload: []byte(payload), ContentType: "application/json",
	})
	return res.GetOutput(), err
}

func (p *participant) compensate(t *testing.T, sagaID, step string, output []byte) error {
	_, err := p.client.Compensate(callCtx(t), &sagav1.CompensateRequest{
		SagaId: sagaID, SagaType: "order", Step: step, IdempotencyKey: sagaID + "/" + step + "/compensate",
		Attempt: 1, Payload: []byte(address), ContentType: "application/json", ExecuteOutput: output, Reason: "test",
	})
	return err
}

func (p *participant) effects(t *testing.T, sagaID string) effects.Counts {
	t.Helper()
	out, err := p.execute(t, "query-"+sagaID, effects.Step, fmt.Sprintf(`{"idempotency_key":%q}`, sagaID+"/ship/execute"), 1)
	if err != nil {
		t.Fatal(err)
	}
	var c effects.Counts
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("got %v, want %v containing %q", err, code, contains)
	}
}

func wantEffects(t *testing.T, p *participant, sagaID string, executed, compensated int64) {
	t.Helper()
	if c := p.effects(t, sagaID); c.Executed != executed || c.Compensated != compensated {
		t.Fatalf("effects of %s: %+v, want executed=%d compensated=%d", sagaID, c, executed, compensated)
	}
}

func TestHealthServing(t *testing.T) {
	p := start(t, opts{})
	for _, service := range []string{"", "saga.v1.ParticipantService"} {
		res, err := p.health.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: service})
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", service, res.GetStatus(), err)
		}
	}
}

func TestShipDuplicateCompensate(t *testing.T) {
	p := start(t, opts{})
	out, err := p.execute(t, "s1", "ship", address, 1)
	if err != nil {
		t.Fatal(err)
	}
	var o shipping.Output
	if err := json.Unmarshal(out, &o); err != nil || !strings.HasPrefix(o.TrackingNumber, "TRK") || o.Address != "1 Main St" {
		t.Fatalf("output %s: %v", out, err)
	}
	again, err := p.execute(t, "s1", "ship", address, 2)
	if err != nil || string(again) != string(out) {
		t.Fatalf("duplicate: %s %v, want %s", again, err, out)
	}
	wantEffects(t, p, "s1", 1, 0)

	for range 3 {
		if err := p.compensate(t, "s1", "ship", out); err != nil {
			t.Fatal(err)
		}
	}
	wantEffects(t, p, "s1", 1, 1)
	_, err = p.execute(t, "s1", "ship", address, 3)
	wantCode(t, err, codes.Aborted, "has been compensated")
	wantEffects(t, p, "s1", 1, 1)
}

func TestNoAddressIsABusinessFailure(t *testing.T) {
	p := start(t, opts{})
	for _, payload := range []string{`{"address": ""}`, `{"address": "   "}`, `{}`, ``} {
		saga := fmt.Sprintf("noaddr-%d", len(payload))
		for attempt := range uint32(2) {
			_, err := p.execute(t, saga, "ship", payload, attempt+1)
			wantCode(t, err, codes.FailedPrecondition, "no delivery address")
		}
		wantEffects(t, p, saga, 0, 0)
		if err := p.compensate(t, saga, "ship", nil); err != nil {
			t.Fatal(err)
		}
		wantEffects(t, p, saga, 0, 0)
	}
	_, err := p.execute(t, "badjson", "ship", `{"address":`, 1)
	wantCode(t, err, codes.FailedPrecondition, "payload must be JSON")
}

func TestNullCompensationAndHangingExecute(t *testing.T) {
	p := start(t, opts{})
	if err := p.compensate(t, "s1", "ship", nil); err != nil {
		t.Fatal(err)
	}
	wantEffects(t, p, "s1", 0, 0)
	_, err := p.execute(t, "s1", "ship", address, 1)
	wantCode(t, err, codes.Aborted, "compensated before it executed")
	wantEffects(t, p, "s1", 0, 0)
}

func TestUnknownStepAndBadKeys(t *testing.T) {
	p := start(t, opts{})
	_, err := p.execute(t, "s1", "pack", address, 1)
	wantCode(t, err, codes.FailedPrecondition, `unknown step "pack": this participant implements conformance.effects, ship`)
	err = p.compensate(t, "s1", "pack", nil)
	wantCode(t, err, codes.FailedPrecondition, `unknown step "pack"`)

	_, err = p.client.Execute(callCtx(t), &sagav1.ExecuteRequest{SagaId: "s1", Step: "ship", IdempotencyKey: "s1/ship/compensate", Payload: []byte(address)})
	wantCode(t, err, codes.InvalidArgument, `idempotency_key must be "<saga_id>/<step>/execute"`)
	_, err = p.client.Execute(callCtx(t), &sagav1.ExecuteRequest{Step: "ship", IdempotencyKey: "/ship/execute", Payload: []byte(address)})
	wantCode(t, err, codes.InvalidArgument, "saga_id is empty")
	wantEffects(t, p, "s1", 0, 0)

	_, err = p.execute(t, "q", effects.Step, `{"key":"x"}`, 1)
	wantCode(t, err, codes.FailedPrecondition, "idempotency_key")
}

func TestConcurrentDuplicatesOverGRPC(t *testing.T) {
	// The carrier is slow and duplicates do not wait: they get UNAVAILABLE and retry, like the coordinator.
	p := start(t, opts{latency: 2 * time.Second, inProgressWait: -1})
	const n = 20
	outputs := make([][]byte, n)
	unavailable := make([]int, n)
	var wg sync.WaitGroup
	first := make(chan []byte, 1)
	go func() {
		out, err := p.execute(t, "s1", "ship", address, 1)
		if err != nil {
			t.Errorf("first call: %v", err)
		}
		first <- out
	}()
	waitFor(t, "the first call's claim", func() bool { held, _ := p.hasRecord("s1"); return held })
	for i := range n {
		wg.Go(func() {
			for attempt := uint32(1); ; attempt++ {
				out, err := p.execute(t, "s1", "ship", address, attempt)
				if status.Code(err) == codes.Unavailable {
					unavailable[i]++
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Errorf("call %d: %v", i, err)
				}
				outputs[i] = out
				return
			}
		})
	}
	wg.Wait()
	firstOutput := <-first
	total := 0
	for i := range n {
		total += unavailable[i]
		if string(outputs[i]) != string(firstOutput) {
			t.Fatalf("outputs differ: %s vs %s", outputs[i], firstOutput)
		}
	}
	if total == 0 {
		t.Fatal("no duplicate saw UNAVAILABLE while the first call was in progress")
	}
	wantEffects(t, p, "s1", 1, 0)
}

func TestDeadlineStopsTheHandler(t *testing.T) {
	p := start(t, opts{latency: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := p.client.Execute(ctx, &sagav1.ExecuteRequest{SagaId: "s1", Step: "ship", IdempotencyKey: "s1/ship/execute", Payload: []byte(address)})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
	// The server side notices the deadline and releases the claim.
	waitFor(t, "the claim to be released", func() bool { held, err := p.hasRecord("s1"); return err == nil && !held })
	wantEffects(t, p, "s1", 0, 0)
}

// waitFor polls cond until it holds (an observed condition, not a guessed delay); fails after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hasRecord reports whether the barrier holds a record for the saga's ship step.
func (p *participant) hasRecord(sagaID string) (bool, error) {
	var n int
	err := p.db.QueryRow(`SELECT count(*) FROM barrier WHERE key = ?`, sagaID+"/ship").Scan(&n)
	return n > 0, err
}

func TestRestartKeepsTheBarrierAndTheCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shipping.db")
	p := start(t, opts{db: path})
	out, err := p.execute(t, "s1", "ship", address, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.compensate(t, "s2", "ship", nil); err != nil { // tombstone
		t.Fatal(err)
	}
	p.stop()

	p2 := start(t, opts{db: path})
	again, err := p2.execute(t, "s1", "ship", address, 2)
	if err != nil || string(again) != string(out) {
		t.Fatalf("after restart: %s %v, want %s", again, err, out)
	}
	wantEffects(t, p2, "s1", 1, 0)
	_, err = p2.execute(t, "s2", "ship", address, 1)
	wantCode(t, err, codes.Aborted, "compensated before it executed")
	if err := p2.compensate(t, "s1", "ship", nil); err != nil { // no output from the coordinator: the barrier has it
		t.Fatal(err)
	}
	wantEffects(t, p2, "s1", 1, 1)
}

func TestShutdownLetsInFlightCallsFinish(t *testing.T) {
	p := start(t, opts{latency: 2 * time.Second})
	result := make(chan error, 1)
	go func() {
		_, err := p.execute(t, "s1", "ship", address, 1)
		result <- err
	}()
	waitFor(t, "the call to be in flight", func() bool { held, _ := p.hasRecord("s1"); return held })
	p.srv.Shutdown(context.Background(), 30*time.Second)
	if err := <-result; err != nil {
		t.Fatalf("in-flight call: %v", err)
	}
	if _, err := p.execute(t, "s2", "ship", address, 1); err == nil {
		t.Fatal("a call succeeded after shutdown")
	}
	if err := <-p.srv.Done(); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		t.Fatalf("Serve: %v", err)
	}
}
