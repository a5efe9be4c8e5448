package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
)

// The test binary doubles as the participant: started with this variable set
// it runs main() with the arguments after "--".
const runMainEnv = "SHIPPING_PARTICIPANT_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		args := os.Args[1:]
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Exit(exitCode(run(args, os.Stdout, os.Stderr), os.Stderr))
	}
	os.Exit(m.Run())
}

type process struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	lines  []string // stdout so far (JSON log lines)
	exited chan struct{}
	err    error // cmd.Wait's result, once exited is closed
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess runs the participant as a child process and waits until it listens.
func startProcess(t *testing.T, addr string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "--listen", addr}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, addr: addr, exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	p.waitForLog(t, "participant listening")
	return p
}

// waitForLog waits until the participant has logged msg (at any time since it started), on a line
// that also contains every one of also.
func (p *process) waitForLog(t *testing.T, msg string, also ...string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		if p.logged(msg, also...) {
			return
		}
		select {
		case <-p.exited:
			if p.logged(msg, also...) {
				return
			}
			t.Fatalf("participant exited (%v) before logging %q", p.err, msg)
		case <-timeout:
			t.Fatalf("participant did not log %q", msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (p *process) logged(msg string, also ...string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
lines:
	for _, line := range p.lines {
		if !strings.Contains(line, `"msg":"`+msg+`"`) {
			continue
		}
		for _, s := range also {
			if !strings.Contains(line, s) {
				continue lines
			}
		}
		return true
	}
	return false
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func executeShip(ctx context.Context, c sagav1.ParticipantServiceClient, sagaID string, attempt uint32) ([]byte, error) {
	res, err := c.Execute(ctx, &sagav1.ExecuteRequest{
		SagaId: sagaID, SagaType: "order", Step: "ship", IdempotencyKey: sagaID + "/ship/execute",
		Attempt: attempt, Payload: []byte(`{"address":"1 Main St"}`), ContentType: "application/json",
	})
	return res.GetOutput(), err
}

func effectCounts(t *testing.T, c sagav1.ParticipantServiceClient, sagaID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Execute(ctx, &sagav1.ExecuteRequest{
		SagaId: "query", Step: "conformance.effects", IdempotencyKey: "query/conformance.effects/execute",
		Payload: fmt.Appendf(nil, `{"idempotency_key":"%s/ship/execute"}`, sagaID), ContentType: "application/json",
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(res.GetOutput())
}

// The scenario of the end-to-end test: the participant is killed (SIGKILL)
// while ship runs, restarted on the same --db, and the coordinator's retry of
// the same Execute then applies the effect exactly once; a completed step is
// remembered across the restart.
func TestKillMidShipAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	db := filepath.Join(t.TempDir(), "shipping.db")
	addr := freeAddr(t)
	// A slow carrier, so the call is still inside ship when the process is killed (well after the log line).
	first := startProcess(t, addr, "--db", db, "--latency", "5s")
	client := sagav1.NewParticipantServiceClient(dial(t, addr))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done, err := executeShip(ctx, client, "done-before-kill", 1)
	if err != nil {
		t.Fatal(err)
	}

	inFlight := make(chan error, 1)
	go func() {
		_, err := executeShip(ctx, client, "killed-mid-ship", 1)
		inFlight <- err
	}()
	// ship is inside the handler, its claim recorded.
	first.waitForLog(t, "calling the carrier", `"sagaId":"killed-mid-ship"`)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.exited
	if err := <-inFlight; status.Code(err) != codes.Unavailable {
		t.Fatalf("in-flight call when killed: %v", err)
	}

	second := startProcess(t, addr, "--db", db, "--latency", "100ms")
	second.waitForLog(t, "calls interrupted by an earlier process will be taken over by their next retry")
	// The retry of the interrupted Execute runs the handler again, once.
	out, err := executeShip(ctx, client, "killed-mid-ship", 2)
	if err != nil || !json.Valid(out) {
		t.Fatalf("retry after restart: %s %v", out, err)
	}
	if again, err := executeShip(ctx, client, "killed-mid-ship", 3); err != nil || string(again) != string(out) {
		t.Fatalf("duplicate after restart: %s %v", again, err)
	}
	if got := effectCounts(t, client, "killed-mid-ship"); got != `{"executed":1,"compensated":0}` {
		t.Fatalf("effects of the interrupted step: %s", got)
	}
	// The step completed before the kill is replayed, not re-run.
	if again, err := executeShip(ctx, client, "done-before-kill", 2); err != nil || string(again) != string(done) {
		t.Fatalf("completed step after restart: %s %v, want %s", again, err, done)
	}
	if got := effectCounts(t, client, "done-before-kill"); got != `{"executed":1,"compensated":0}` {
		t.Fatalf("effects of the completed step: %s", got)
	}

	// SIGTERM: graceful stop, exit status 0, health stops answering SERVING.
	health := healthpb.NewHealthClient(dial(t, addr))
	if res, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", res.GetStatus(), err)
	}
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	second.waitForLog(t, "participant stopped")
	select {
	case <-second.exited:
		if second.err != nil {
			t.Fatalf("exit after SIGTERM: %v", second.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit after SIGTERM")
	}
}

func TestSecondProcessOnTheSameDBIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	db := filepath.Join(t.TempDir(), "shipping.db")
	startProcess(t, freeAddr(t), "--db", db)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "--listen", freeAddr(t), "--db", db, "--lock-wait", "200ms")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || !strings.Contains(string(out), "in use by another process") {
		t.Fatalf("second process: %v\n%s", err, out)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"--latency", "-1s"}, {"--log-level", "loud"}, {"extra"}, {"--listen", "nonsense"}} {
		if code := exitCode(run(args, io.Discard, io.Discard), io.Discard); code != 2 {
			t.Fatalf("%v: exit %d, want 2", args, code)
		}
	}
	if code := exitCode(run([]string{"--listen", "256.0.0.1:1", "--db", ":memory:"}, io.Discard, io.Discard), io.Discard); code != 1 {
		t.Fatalf("unusable listen address: exit %d, want 1", code)
	}
}
