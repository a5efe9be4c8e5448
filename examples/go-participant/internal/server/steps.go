package server

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
	"github.com/saga-coordinator/examples/go-participant/internal/effects"
)

// StepHandlers is one step a participant implements.
type StepHandlers struct {
	// Execute applies the effect and returns the output. Under the barrier it
	// runs at most once per saga; it should write its effect with
	// claim.Commit. Return a *barrier.BusinessFailure for a business "no"
	// (only when nothing took effect); any other error is transient.
	Execute func(ctx context.Context, req *sagav1.ExecuteRequest, claim *barrier.ExecuteClaim) ([]byte, error)
	// Compensate undoes the effect; it runs only if the step executed here,
	// at most once. Any error means "retry me".
	Compensate func(ctx context.Context, req *sagav1.CompensateRequest, claim *barrier.CompensateClaim) error
	// NoBarrier: every call runs the handler, with a nil claim. Only for
	// read-only steps or handlers idempotent on their own.
	NoBarrier bool
}

var stepName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func checkStepNames(steps map[string]StepHandlers) error {
	if len(steps) == 0 {
		return errors.New("a participant needs at least one step")
	}
	var bad []string
	for name, h := range steps {
		if !stepName.MatchString(name) || h.Execute == nil || h.Compensate == nil {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("steps need a name of 1..64 characters of [A-Za-z0-9._-] and both handlers; bad: %s",
			strings.Join(bad, ", "))
	}
	return nil
}

// EffectsStep serves the conformance kit's effect-count step (register it
// under effects.Step). It bypasses the barrier: every call reads fresh counts.
func EffectsStep(counter *effects.Counter) StepHandlers {
	return StepHandlers{
		NoBarrier: true,
		Execute: func(ctx context.Context, req *sagav1.ExecuteRequest, _ *barrier.ExecuteClaim) ([]byte, error) {
			out, err := counter.Answer(ctx, req.GetPayload())
			var bad *effects.QueryError
			if errors.As(err, &bad) {
				return nil, &barrier.BusinessFailure{Message: bad.Message}
			}
			return out, err
		},
		// Reading counts has no effect to undo.
		Compensate: func(context.Context, *sagav1.CompensateRequest, *barrier.CompensateClaim) error { return nil },
	}
}
