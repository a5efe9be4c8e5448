// Command shipping-participant is an example saga participant written in Go:
// a shipping service with the step "ship" (and the conformance kit's
// "conformance.effects"), an idempotency barrier persisted in SQLite, and
// standard gRPC health checking.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
	"github.com/saga-coordinator/examples/go-participant/internal/effects"
	"github.com/saga-coordinator/examples/go-participant/internal/server"
	"github.com/saga-coordinator/examples/go-participant/internal/shipping"
	"github.com/saga-coordinator/examples/go-participant/internal/sqlitedb"
)

var errParse = errors.New("invalid command line")

type config struct {
	listen          string
	db              string
	latency         time.Duration
	inProgressWait  time.Duration
	shutdownTimeout time.Duration
	lockWait        time.Duration
	logLevel        string
	tlsCert         string
	tlsKey          string
	tlsCA           string
	allowedCallers  string
}

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// usageError is a bad command line: exit status 2 (1 is for failures at run time).
type usageError struct{ error }

func exitCode(err error, stderr io.Writer) int {
	var usage usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		if !errors.Is(usage.error, errParse) {
			fmt.Fprintf(stderr, "shipping-participant: %v\n", err)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "shipping-participant: %v\n", err)
		return 1
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("shipping-participant", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: shipping-participant [flags]\n\nAn example saga participant (step \"ship\") with a SQLite-backed idempotency barrier.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.listen, "listen", envOr("PARTICIPANT_LISTEN", "127.0.0.1:7003"), "`HOST:PORT` to serve gRPC on (env PARTICIPANT_LISTEN); port 0 picks a free one")
	fs.StringVar(&c.db, "db", envOr("PARTICIPANT_DB", "shipping-participant.db"), "SQLite `PATH` of the barrier, effect counts and shipments (env PARTICIPANT_DB); \":memory:\" forgets everything on exit")
	fs.DurationVar(&c.latency, "latency", 0, "simulated carrier latency of every ship Execute, e.g. 500ms (tests)")
	fs.DurationVar(&c.inProgressWait, "in-progress-wait", barrier.DefaultInProgressWait, "how long a duplicate call waits for the same step's call in progress before answering UNAVAILABLE")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long in-flight calls may finish before they are cancelled")
	fs.DurationVar(&c.lockWait, "lock-wait", 10*time.Second, "how long to wait for another process to release --db")
	fs.StringVar(&c.tlsCert, "tls-cert", envOr("PARTICIPANT_TLS_CERT", ""), "serve mTLS with this certificate `FILE` (PEM; needs --tls-key, --tls-ca and --allowed-caller; env PARTICIPANT_TLS_CERT)")
	fs.StringVar(&c.tlsKey, "tls-key", envOr("PARTICIPANT_TLS_KEY", ""), "private key `FILE` of --tls-cert (env PARTICIPANT_TLS_KEY)")
	fs.StringVar(&c.tlsCA, "tls-ca", envOr("PARTICIPANT_TLS_CA", ""), "CA `FILE` of the coordinators' client certificates (env PARTICIPANT_TLS_CA)")
	fs.StringVar(&c.allowedCallers, "allowed-caller", envOr("PARTICIPANT_ALLOWED_CALLERS", ""), "comma-separated certificate `NAMES` (CN or SAN) of the coordinators allowed to call; anyone else: PERMISSION_DENIED")
	fs.StringVar(&c.logLevel, "log-level", envOr("LOG_LEVEL", "info"), "debug|info|warn|error (env LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{errParse} // the flag package already printed the problem and the usage
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return c, usageError{fmt.Errorf(`--listen must be "HOST:PORT" ("[::1]:7003" for IPv6), got %q`, c.listen)}
	}
	if c.latency < 0 || c.shutdownTimeout < 0 || c.lockWait < 0 {
		return c, usageError{errors.New("durations must not be negative")}
	}
	tlsSet := []bool{c.tlsCert != "", c.tlsKey != "", c.tlsCA != "", c.allowedCallers != ""}
	if slices.Contains(tlsSet, true) && slices.Contains(tlsSet, false) {
		return c, usageError{errors.New("--tls-cert, --tls-key, --tls-ca and --allowed-caller go together (mTLS)")}
	}
	if c.inProgressWait <= 0 {
		c.inProgressWait = -1 // barrier.Options: negative = do not wait
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level})).With("name", "shipping-participant")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	db, err := sqlitedb.Open(ctx, c.db, sqlitedb.Options{LockWait: c.lockWait})
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			logger.Warn("closing the database failed", "err", err.Error())
		}
	}()
	b, err := barrier.New(ctx, db.DB, barrier.Options{InProgressWait: c.inProgressWait})
	if err != nil {
		return err
	}
	if n, err := b.Abandoned(ctx); err == nil && n > 0 {
		logger.Warn("calls interrupted by an earlier process will be taken over by their next retry", "records", n)
	}
	counter, err := effects.New(ctx, db.DB)
	if err != nil {
		return err
	}
	ship, err := shipping.New(ctx, db.DB, counter, shipping.Options{Latency: c.latency, Logger: logger})
	if err != nil {
		return err
	}
	svc, err := server.NewService(ship.Steps(), b, logger)
	if err != nil {
		return err
	}
	srv, err := server.Listen(c.listen, svc, logger, c.mtls())
	if err != nil {
		return err
	}
	logger.Info("participant listening", "address", srv.Addr, "steps", svc.StepNames(), "db", c.db,
		"latency", c.latency.String())

	select {
	case <-ctx.Done():
		logger.Info("shutting down", "signal", "SIGTERM/SIGINT")
	case err := <-srv.Done():
		return fmt.Errorf("gRPC server stopped: %w", err)
	}
	stop() // a second signal kills the process the default way
	srv.Shutdown(context.Background(), c.shutdownTimeout)
	logger.Info("participant stopped", "address", srv.Addr)
	return nil
}

// mtls is the transport security the flags ask for, or nil for plaintext.
func (c config) mtls() *server.MTLS {
	if c.tlsCert == "" {
		return nil
	}
	return &server.MTLS{CertFile: c.tlsCert, KeyFile: c.tlsKey, CAFile: c.tlsCA, AllowedCallers: strings.Split(c.allowedCallers, ",")}
}

func envOr(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}
