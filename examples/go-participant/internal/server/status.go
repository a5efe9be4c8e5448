package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
)

// rejection is a call refused before any handler or barrier sees it (unknown step, malformed key).
type rejection struct {
	code    codes.Code
	message string
}

func (r *rejection) Error() string { return r.message }

// TransientFailure makes a handler answer UNAVAILABLE (retried by the coordinator).
type TransientFailure struct{ Message string }

func (e *TransientFailure) Error() string { return e.Message }

// statusOf answers an error by the outcome rules of participant.proto: only a
// business "no" or the barrier's refusal of a late Execute may be
// FAILED_PRECONDITION/ABORTED; everything unexpected is transient.
func statusOf(ctx context.Context, err error) error {
	var (
		business  *barrier.BusinessFailure
		rejected  *rejection
		refusal   *barrier.Refusal
		transient *TransientFailure
		storeErr  *barrier.StoreError
	)
	switch {
	case errors.As(err, &business):
		return status.Error(codes.FailedPrecondition, business.Message)
	case errors.As(err, &rejected):
		return status.Error(rejected.code, rejected.message)
	case errors.As(err, &refusal):
		if refusal.Reason == barrier.Hanging || refusal.Reason == barrier.Compensated {
			return status.Error(codes.Aborted, refusal.Message)
		}
		return status.Error(codes.Unavailable, refusal.Message)
	case errors.As(err, &transient):
		return status.Error(codes.Unavailable, transient.Message)
	case errors.As(err, &storeErr):
		return status.Error(codes.Unavailable, storeErr.Error())
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		if errors.Is(ctx.Err(), context.Canceled) {
			return status.Error(codes.Canceled, "call cancelled by the caller: "+err.Error())
		}
		return status.Error(codes.DeadlineExceeded, "call deadline exceeded: "+err.Error())
	default:
		return status.Error(codes.Internal, err.Error())
	}
}
