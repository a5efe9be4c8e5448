package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
)

// Server is a running gRPC server: saga.v1.ParticipantService plus grpc.health.v1.Health
// ("" and "saga.v1.ParticipantService" are SERVING while it runs).
type Server struct {
	// Addr is the "host:port" it listens on, with the real port (for port 0).
	Addr   string
	grpc   *grpc.Server
	health *health.Server
	logger *slog.Logger
	done   chan error
}

// Listen binds listen ("host:port", "[::1]:port"; port 0 picks a free one) and starts serving svc,
// over mTLS when mtls is not nil.
func Listen(listen string, svc *Service, logger *slog.Logger, mtls *MTLS) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return nil, fmt.Errorf(`listen must be "host:port" (port 0 picks a free one), got %q`, listen)
	}
	var options []grpc.ServerOption
	if mtls != nil {
		var err error
		if options, err = mtls.serverOptions(); err != nil {
			return nil, err
		}
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer(options...)
	sagav1.RegisterParticipantServiceServer(gs, svc)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(sagav1.ParticipantService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)

	s := &Server{Addr: lis.Addr().String(), grpc: gs, health: hs, logger: logger, done: make(chan error, 1)}
	go func() { s.done <- gs.Serve(lis) }()
	return s, nil
}

// Done receives Serve's result once the server has stopped.
func (s *Server) Done() <-chan error { return s.done }

// Shutdown stops gracefully: health turns NOT_SERVING, no new calls are
// accepted, in-flight calls finish; past timeout (or ctx) they are cancelled.
// Idempotent.
func (s *Server) Shutdown(ctx context.Context, timeout time.Duration) {
	s.health.Shutdown() // every service NOT_SERVING
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		s.logger.Warn("in-flight calls did not finish in time; cancelling them", "timeout", timeout.String())
		s.grpc.Stop()
		<-stopped
	case <-ctx.Done():
		s.grpc.Stop()
		<-stopped
	}
}
