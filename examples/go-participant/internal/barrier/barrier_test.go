package barrier_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
	"github.com/saga-coordinator/examples/go-participant/internal/sqlitedb"
)

func openDB(t *testing.T, path string) *sqlitedb.DB {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), path, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newBarrier(t *testing.T, db *sql.DB, wait time.Duration) *barrier.Barrier {
	t.Helper()
	b, err := barrier.New(context.Background(), db, barrier.Options{InProgressWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func memBarrier(t *testing.T) *barrier.Barrier {
	return newBarrier(t, openDB(t, sqlitedb.Memory).DB, 0)
}

// counting handlers: they count their runs and return a fresh output every run.
type counting struct {
	executed, compensated atomic.Int64
}

func (c *counting) execute(_ context.Context, _ *barrier.ExecuteClaim) ([]byte, error) {
	n := c.executed.Add(1)
	return fmt.Appendf(nil, "output-%d", n), nil
}

func (c *counting) compensate(_ context.Context, _ *barrier.CompensateClaim) error {
	c.compensated.Add(1)
	return nil
}

func refusal(t *testing.T, err error, want barrier.RefusalReason) {
	t.Helper()
	var r *barrier.Refusal
	if !errors.As(err, &r) || r.Reason != want {
		t.Fatalf("got error %v, want a %s refusal", err, want)
	}
}

func TestDuplicateExecuteReturnsStoredOutput(t *testing.T) {
	b, h, ctx := memBarrier(t), &counting{}, context.Background()
	first, ran, err := b.Execute(ctx, "s1/ship", h.execute)
	if err != nil || !ran {
		t.Fatalf("first Execute: ran=%v err=%v", ran, err)
	}
	second, ran, err := b.Execute(ctx, "s1/ship", h.execute)
	if err != nil || ran {
		t.Fatalf("second Execute: ran=%v err=%v", ran, err)
	}
	if string(first) != "output-1" || string(second) != "output-1" || h.executed.Load() != 1 {
		t.Fatalf("outputs %q %q, handler ran %d times", first, second, h.executed.Load())
	}
	// Another saga's step is another record.
	if out, _, _ := b.Execute(ctx, "s2/ship", h.execute); string(out) != "output-2" {
		t.Fatalf("s2 output %q", out)
	}
}

func TestBusinessFailureIsRecordedAndReplayed(t *testing.T) {
	b, ctx := memBarrier(t), context.Background()
	var runs atomic.Int64
	fail := func(context.Context, *barrier.ExecuteClaim) ([]byte, error) {
		runs.Add(1)
		return nil, barrier.Failf("no delivery address")
	}
	for range 3 {
		_, _, err := b.Execute(ctx, "s1/ship", fail)
		var bf *barrier.BusinessFailure
		if !errors.As(err, &bf) || bf.Message != "no delivery address" {
			t.Fatalf("got %v, want the business failure", err)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
	// Nothing took effect, so there is nothing to compensate.
	h := &counting{}
	if res, err := b.Compensate(ctx, "s1/ship", h.compensate); err != nil || res != barrier.ResultAlreadyDone || h.compensated.Load() != 0 {
		t.Fatalf("Compensate after a business failure: %v %v, handler ran %d", res, err, h.compensated.Load())
	}
}

func TestNullCompensationThenHangingExecute(t *testing.T) {
	b, h, ctx := memBarrier(t), &counting{}, context.Background()
	res, err := b.Compensate(ctx, "s1/ship", h.compensate)
	if err != nil || res != barrier.ResultNullCompensation {
		t.Fatalf("null compensation: %v %v", res, err)
	}
	rec, _ := b.Get(ctx, "s1/ship")
	if rec == nil || rec.State != barrier.StateTombstone {
		t.Fatalf("record %+v, want a tombstone", rec)
	}
	_, ran, err := b.Execute(ctx, "s1/ship", h.execute)
	refusal(t, err, barrier.Hanging)
	if ran {
		t.Fatal("the late Execute ran its handler")
	}
	if res, err := b.Compensate(ctx, "s1/ship", h.compensate); err != nil || res != barrier.ResultAlreadyDone {
		t.Fatalf("repeated null compensation: %v %v", res, err)
	}
	if h.executed.Load() != 0 || h.compensated.Load() != 0 {
		t.Fatalf("handlers ran: execute %d, compensate %d", h.executed.Load(), h.compensated.Load())
	}
}

func TestRepeatedCompensateRunsOnce(t *testing.T) {
	b, h, ctx := memBarrier(t), &counting{}, context.Background()
	if _, _, err := b.Execute(ctx, "s1/ship", h.execute); err != nil {
		t.Fatal(err)
	}
	var seen []byte
	compensate := func(ctx context.Context, c *barrier.CompensateClaim) error {
		seen = c.ExecuteOutput
		if c.ExecuteOutcome != barrier.OutcomeCompleted {
			t.Errorf("outcome %q", c.ExecuteOutcome)
		}
		return h.compensate(ctx, c)
	}
	want := []barrier.CompensateResult{barrier.ResultCompensated, barrier.ResultAlreadyDone, barrier.ResultAlreadyDone}
	for i, w := range want {
		if res, err := b.Compensate(ctx, "s1/ship", compensate); err != nil || res != w {
			t.Fatalf("Compensate #%d: %v %v, want %v", i+1, res, err, w)
		}
	}
	if h.compensated.Load() != 1 || string(seen) != "output-1" {
		t.Fatalf("compensation ran %d times with output %q", h.compensated.Load(), seen)
	}
	// Executing again after the compensation is refused.
	_, _, err := b.Execute(ctx, "s1/ship", h.execute)
	refusal(t, err, barrier.Compensated)
	if h.executed.Load() != 1 {
		t.Fatalf("execute ran %d times", h.executed.Load())
	}
}

func TestFailedCompensationIsRetried(t *testing.T) {
	b, h, ctx := memBarrier(t), &counting{}, context.Background()
	if _, _, err := b.Execute(ctx, "s1/ship", h.execute); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("carrier unreachable")
	if _, err := b.Compensate(ctx, "s1/ship", func(context.Context, *barrier.CompensateClaim) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	// Still refused for Execute while compensating.
	_, _, err := b.Execute(ctx, "s1/ship", h.execute)
	refusal(t, err, barrier.Compensated)
	// The next Compensate takes over at once.
	if res, err := b.Compensate(ctx, "s1/ship", h.compensate); err != nil || res != barrier.ResultCompensated {
		t.Fatalf("retried Compensate: %v %v", res, err)
	}
}

func TestHandlerErrorReleasesTheClaim(t *testing.T) {
	b, h, ctx := memBarrier(t), &counting{}, context.Background()
	boom := errors.New("carrier timeout")
	if _, _, err := b.Execute(ctx, "s1/ship", func(context.Context, *barrier.ExecuteClaim) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if rec, _ := b.Get(ctx, "s1/ship"); rec != nil {
		t.Fatalf("record %+v left behind", rec)
	}
	if out, ran, err := b.Execute(ctx, "s1/ship", h.execute); err != nil || !ran || string(out) != "output-1" {
		t.Fatalf("retry: %q %v %v", out, ran, err)
	}
	// A panicking handler is an error too, and releases its claim.
	if _, _, err := b.Execute(ctx, "s2/ship", func(context.Context, *barrier.ExecuteClaim) ([]byte, error) { panic("bug") }); err == nil {
		t.Fatal("panic not reported")
	}
	if rec, _ := b.Get(ctx, "s2/ship"); rec != nil {
		t.Fatalf("record %+v left behind after a panic", rec)
	}
}

func TestCommitIsOneTransaction(t *testing.T) {
	db := openDB(t, sqlitedb.Memory)
	b, ctx := newBarrier(t, db.DB, 0), context.Background()
	if _, err := db.Exec(`CREATE TABLE effects (key TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(key string, then error) func(context.Context, *barrier.ExecuteClaim) ([]byte, error) {
		return func(ctx context.Context, c *barrier.ExecuteClaim) ([]byte, error) {
			err := c.Commit(ctx, []byte("out"), func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO effects VALUES (?)`, key); err != nil {
					return err
				}
				return then
			})
			return []byte("ignored after Commit"), err
		}
	}
	rows := func() (n int) {
		_ = db.QueryRow(`SELECT count(*) FROM effects`).Scan(&n)
		return n
	}
	// A failing write rolls back the effect and releases the claim.
	if _, _, err := b.Execute(ctx, "s1/ship", insert("s1", errors.New("disk"))); err == nil {
		t.Fatal("want the write's error")
	}
	if rec, _ := b.Get(ctx, "s1/ship"); rec != nil || rows() != 0 {
		t.Fatalf("record %+v, %d effects after a rolled-back commit", rec, rows())
	}
	// A business failure inside the write is recorded, the effect rolled back.
	_, _, err := b.Execute(ctx, "s2/ship", insert("s2", barrier.Failf("out of stock")))
	var bf *barrier.BusinessFailure
	if !errors.As(err, &bf) {
		t.Fatalf("got %v", err)
	}
	if rec, _ := b.Get(ctx, "s2/ship"); rec == nil || rec.State != barrier.StateFailed || rows() != 0 {
		t.Fatalf("record %+v, %d effects", rec, rows())
	}
	// A successful commit stores the committed output with the effect.
	out, _, err := b.Execute(ctx, "s3/ship", insert("s3", nil))
	if err != nil || string(out) != "out" || rows() != 1 {
		t.Fatalf("%q %v, %d effects", out, err, rows())
	}
	if rec, _ := b.Get(ctx, "s3/ship"); rec.State != barrier.StateExecuted || string(rec.Output) != "out" {
		t.Fatalf("record %+v", rec)
	}
}

func TestConcurrentDuplicatesRunTheHandlerOnce(t *testing.T) {
	b, ctx := memBarrier(t), context.Background() // duplicates wait for the call in progress
	var runs atomic.Int64
	entered, release := make(chan struct{}), make(chan struct{})
	slow := func(context.Context, *barrier.ExecuteClaim) ([]byte, error) {
		if runs.Add(1) == 1 {
			close(entered)
		}
		<-release // held until every caller has made its call
		return []byte("tracking-1"), nil
	}
	const n = 50
	outputs := make([][]byte, n)
	errs := make([]error, n)
	var wg, calling sync.WaitGroup
	calling.Add(n)
	for i := range n {
		wg.Go(func() {
			calling.Done()
			outputs[i], _, errs[i] = b.Execute(ctx, "s1/ship", slow)
		})
	}
	calling.Wait()
	<-entered
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || string(outputs[i]) != "tracking-1" {
			t.Fatalf("call %d: %q %v", i, outputs[i], errs[i])
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}

func TestDuplicateWhileInProgressIsUnavailable(t *testing.T) {
	b, ctx := newBarrier(t, openDB(t, sqlitedb.Memory).DB, -1), context.Background() // no waiting
	var runs atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	blocking := func(context.Context, *barrier.ExecuteClaim) ([]byte, error) {
		if runs.Add(1) == 1 {
			close(started)
		}
		<-release
		return []byte("tracking-1"), nil
	}
	first := make(chan error, 1)
	go func() {
		_, _, err := b.Execute(ctx, "s1/ship", blocking)
		first <- err
	}()
	<-started
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errs[i] = b.Execute(ctx, "s1/ship", blocking) })
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			t.Fatalf("duplicate %d succeeded while the first call was in progress", i)
		}
		refusal(t, err, barrier.InProgress)
	}
	// A Compensate meanwhile is refused the same way (retry).
	_, err := b.Compensate(ctx, "s1/ship", (&counting{}).compensate)
	refusal(t, err, barrier.InProgress)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n { // the retries get the output
		if out, ran, err := b.Execute(ctx, "s1/ship", blocking); err != nil || ran || string(out) != "tracking-1" {
			t.Fatalf("retry: %q %v %v", out, ran, err)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}

func TestWaitIsCappedByTheDeadline(t *testing.T) {
	b := memBarrier(t) // waits up to 5 s by default
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	go func() {
		_, _, _ = b.Execute(context.Background(), "s1/ship", func(context.Context, *barrier.ExecuteClaim) ([]byte, error) {
			close(started)
			<-release
			return nil, nil
		})
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, _, err := b.Execute(ctx, "s1/ship", (&counting{}).execute)
	refusal(t, err, barrier.InProgress)
	if took := time.Since(began); took > time.Second {
		t.Fatalf("waited %v past a 300ms deadline", took)
	}
}

func TestConcurrentExecuteAndCompensateAgree(t *testing.T) {
	b, ctx := memBarrier(t), context.Background()
	for i := range 50 {
		key := fmt.Sprintf("race-%d/ship", i)
		h := &counting{}
		var execErr error
		var wg sync.WaitGroup
		wg.Go(func() { _, _, execErr = b.Execute(ctx, key, h.execute) })
		wg.Go(func() {
			if _, err := b.Compensate(ctx, key, h.compensate); err != nil {
				t.Errorf("Compensate: %v", err)
			}
		})
		wg.Wait()
		// Either order is legal: Execute then its compensation, or a tombstone and a refused Execute.
		switch {
		case execErr == nil:
			if h.executed.Load() != 1 || h.compensated.Load() != 1 {
				t.Fatalf("%s: executed %d compensated %d", key, h.executed.Load(), h.compensated.Load())
			}
		default:
			refusal(t, execErr, barrier.Hanging)
			if h.executed.Load() != 0 || h.compensated.Load() != 0 {
				t.Fatalf("%s: executed %d compensated %d after a refusal", key, h.executed.Load(), h.compensated.Load())
			}
		}
	}
}

func TestRecordsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "barrier.db")
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, path, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := newBarrier(t, db.DB, 0)
	h := &counting{}
	out, _, err := b.Execute(ctx, "s1/ship", h.execute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Execute(ctx, "s2/ship", h.execute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Compensate(ctx, "s2/ship", h.compensate); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Compensate(ctx, "s3/ship", h.compensate); err != nil { // tombstone
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := newBarrier(t, openDB(t, path).DB, 0)
	again, ran, err := b2.Execute(ctx, "s1/ship", h.execute)
	if err != nil || ran || string(again) != string(out) {
		t.Fatalf("after restart: %q ran=%v %v, want %q from the record", again, ran, err, out)
	}
	_, _, err = b2.Execute(ctx, "s2/ship", h.execute)
	refusal(t, err, barrier.Compensated)
	_, _, err = b2.Execute(ctx, "s3/ship", h.execute)
	refusal(t, err, barrier.Hanging)
	if res, _ := b2.Compensate(ctx, "s2/ship", h.compensate); res != barrier.ResultAlreadyDone {
		t.Fatalf("repeated Compensate after restart: %v", res)
	}
	if h.executed.Load() != 2 || h.compensated.Load() != 1 {
		t.Fatalf("executed %d compensated %d", h.executed.Load(), h.compensated.Load())
	}
}

// A claim left by another process instance (one that died mid-handler) is taken over at once.
func TestClaimOfADeadProcessIsTakenOver(t *testing.T) {
	db := openDB(t, sqlitedb.Memory)
	ctx := context.Background()
	dead := newBarrier(t, db.DB, -1)
	started, release := make(chan struct{}), make(chan struct{})
	deadResult := make(chan error, 1)
	go func() {
		_, _, err := dead.Execute(ctx, "s1/ship", func(ctx context.Context, c *barrier.ExecuteClaim) ([]byte, error) {
			close(started)
			<-release // "killed" here: it never commits in time
			return nil, c.Commit(ctx, []byte("late"), nil)
		})
		deadResult <- err
	}()
	<-started

	restarted := newBarrier(t, db.DB, -1) // a new process instance on the same database
	if n, err := restarted.Abandoned(ctx); err != nil || n != 1 {
		t.Fatalf("abandoned claims: %d %v", n, err)
	}
	h := &counting{}
	out, ran, err := restarted.Execute(ctx, "s1/ship", h.execute)
	if err != nil || !ran || string(out) != "output-1" {
		t.Fatalf("takeover: %q ran=%v %v", out, ran, err)
	}
	close(release)
	refusal(t, <-deadResult, barrier.LeaseLost) // the old claim can no longer write
	if rec, _ := restarted.Get(ctx, "s1/ship"); string(rec.Output) != "output-1" {
		t.Fatalf("record %+v", rec)
	}

	// A Compensate that finds an abandoned Execute compensates it as interrupted.
	started2 := make(chan struct{})
	go func() {
		_, _, _ = dead.Execute(ctx, "s2/ship", func(context.Context, *barrier.ExecuteClaim) ([]byte, error) {
			close(started2)
			select {} // never returns: the process "died"
		})
	}()
	<-started2
	var outcome barrier.ExecuteOutcome
	res, err := restarted.Compensate(ctx, "s2/ship", func(_ context.Context, c *barrier.CompensateClaim) error {
		outcome = c.ExecuteOutcome
		return nil
	})
	if err != nil || res != barrier.ResultCompensated || outcome != barrier.OutcomeInterrupted {
		t.Fatalf("compensating an interrupted Execute: %v %v outcome=%q", res, err, outcome)
	}
	_, _, err = restarted.Execute(ctx, "s2/ship", h.execute)
	refusal(t, err, barrier.Compensated)
}
