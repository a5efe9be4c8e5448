// Package server is the gRPC side of the participant: saga.v1.ParticipantService
// over a set of steps and the barrier, plus grpc.health.v1.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
)

// Service implements sagav1.ParticipantServiceServer.
type Service struct {
	sagav1.UnimplementedParticipantServiceServer
	steps   map[string]StepHandlers
	known   string
	barrier *barrier.Barrier
	logger  *slog.Logger
}

// NewService routes Execute/Compensate to steps through b (nil: no barrier at all).
func NewService(steps map[string]StepHandlers, b *barrier.Barrier, logger *slog.Logger) (*Service, error) {
	if err := checkStepNames(steps); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	names := make([]string, 0, len(steps))
	for name := range steps {
		names = append(names, name)
	}
	slices.Sort(names)
	return &Service{steps: steps, known: strings.Join(names, ", "), barrier: b, logger: logger}, nil
}

// StepNames lists the steps, sorted.
func (s *Service) StepNames() []string { return strings.Split(s.known, ", ") }

// Execute applies a step through the barrier.
func (s *Service) Execute(ctx context.Context, req *sagav1.ExecuteRequest) (*sagav1.ExecuteResponse, error) {
	log := s.logger.With("sagaId", req.GetSagaId(), "step", req.GetStep(), "attempt", req.GetAttempt(), "phase", "execute")
	output, err := s.execute(ctx, req, log)
	if err != nil {
		return nil, s.answer(ctx, log, err)
	}
	return &sagav1.ExecuteResponse{Output: output}, nil
}

func (s *Service) execute(ctx context.Context, req *sagav1.ExecuteRequest, log *slog.Logger) ([]byte, error) {
	handlers, err := s.handlersFor(req.GetStep())
	if err != nil {
		return nil, err
	}
	key, err := barrierKey(req.GetSagaId(), req.GetStep(), req.GetIdempotencyKey(), "execute")
	if err != nil {
		return nil, err
	}
	if s.barrier == nil || handlers.NoBarrier {
		return handlers.Execute(ctx, req, nil)
	}
	output, ran, err := s.barrier.Execute(ctx, key, func(ctx context.Context, claim *barrier.ExecuteClaim) ([]byte, error) {
		return handlers.Execute(ctx, req, claim)
	})
	if err == nil {
		if ran {
			log.Info("executed")
		} else {
			log.Debug("execute replayed from the barrier")
		}
	}
	return output, err
}

// Compensate undoes a step through the barrier.
func (s *Service) Compensate(ctx context.Context, req *sagav1.CompensateRequest) (*sagav1.CompensateResponse, error) {
	log := s.logger.With("sagaId", req.GetSagaId(), "step", req.GetStep(), "attempt", req.GetAttempt(), "phase", "compensate")
	if err := s.compensate(ctx, req, log); err != nil {
		return nil, s.answer(ctx, log, err)
	}
	return &sagav1.CompensateResponse{}, nil
}

func (s *Service) compensate(ctx context.Context, req *sagav1.CompensateRequest, log *slog.Logger) error {
	handlers, err := s.handlersFor(req.GetStep())
	if err != nil {
		return err
	}
	key, err := barrierKey(req.GetSagaId(), req.GetStep(), req.GetIdempotencyKey(), "compensate")
	if err != nil {
		return err
	}
	if s.barrier == nil || handlers.NoBarrier {
		return handlers.Compensate(ctx, req, nil)
	}
	result, err := s.barrier.Compensate(ctx, key, func(ctx context.Context, claim *barrier.CompensateClaim) error {
		// The barrier's copy of the output is authoritative; the coordinator's is empty when it never saw it.
		if len(claim.ExecuteOutput) == 0 {
			claim.ExecuteOutput = req.GetExecuteOutput()
		}
		return handlers.Compensate(ctx, req, claim)
	})
	if err == nil {
		switch result {
		case barrier.ResultNullCompensation:
			log.Info("null compensation: tombstone recorded", "reason", req.GetReason())
		case barrier.ResultCompensated:
			log.Info("compensated", "reason", req.GetReason())
		default:
			log.Debug("compensate: already done")
		}
	}
	return err
}

func (s *Service) answer(ctx context.Context, log *slog.Logger, err error) error {
	st := statusOf(ctx, err)
	level := slog.LevelDebug
	if c := status.Code(st); c == codes.Internal || c == codes.Unknown {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, "call answered with an error", "status", st.Error())
	return st
}

func (s *Service) handlersFor(step string) (StepHandlers, error) {
	if h, ok := s.steps[step]; ok {
		return h, nil
	}
	// FAILED_PRECONDITION, not NOT_FOUND/UNIMPLEMENTED: the coordinator retries every code other than
	// FAILED_PRECONDITION/ABORTED, and a step this participant does not know will never succeed.
	return StepHandlers{}, &rejection{codes.FailedPrecondition,
		fmt.Sprintf("unknown step %q: this participant implements %s", step, s.known)}
}

// barrierKey is the record key of a call, "<saga_id>/<step>", shared by
// Execute and Compensate. The request's key must be exactly the protocol's
// "<saga_id>/<step>/<phase>", so a confused caller cannot alias two steps.
func barrierKey(sagaID, step, idempotencyKey, phase string) (string, error) {
	expected := sagaID + "/" + step + "/" + phase
	if sagaID == "" || idempotencyKey != expected {
		msg := fmt.Sprintf(`idempotency_key must be "<saga_id>/<step>/%s" (here %q), got %q`, phase, expected, idempotencyKey)
		if sagaID == "" {
			msg += " and saga_id is empty"
		}
		return "", &rejection{codes.InvalidArgument, msg}
	}
	return sagaID + "/" + step, nil
}
