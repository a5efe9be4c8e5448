package barrier

import "fmt"

// BusinessFailure is a business "no" (no delivery address, out of stock): the
// participant answers FAILED_PRECONDITION with Message. The barrier records it,
// so a repeated Execute gets the same answer without running the handler.
// Return it only when the step took NO effect.
type BusinessFailure struct{ Message string }

func (e *BusinessFailure) Error() string { return e.Message }

// Failf builds a BusinessFailure.
func Failf(format string, args ...any) error {
	return &BusinessFailure{Message: fmt.Sprintf(format, args...)}
}

// RefusalReason says why the barrier answered a call without running its handler.
type RefusalReason string

const (
	// InProgress: another call for the same step holds the record and has not finished: retry shortly.
	InProgress RefusalReason = "in-progress"
	// Hanging: Execute after a null compensation's tombstone (a delayed packet): refuse, do nothing.
	Hanging RefusalReason = "hanging"
	// Compensated: Execute after the step was compensated: its effect is undone, refuse.
	Compensated RefusalReason = "compensated"
	// LeaseLost: this call's claim was taken over; its result is not recorded.
	LeaseLost RefusalReason = "lease-lost"
)

// Refusal is the barrier refusing a call. Hanging and Compensated are
// answered ABORTED (a business "no" on Execute); InProgress and LeaseLost
// UNAVAILABLE (retry).
type Refusal struct {
	Reason  RefusalReason
	Message string
}

func (e *Refusal) Error() string { return e.Message }

// StoreError is a failed read or write of the barrier's database: transient,
// answered UNAVAILABLE.
type StoreError struct {
	Op  string
	Err error
}

func (e *StoreError) Error() string { return fmt.Sprintf("barrier store: %s: %v", e.Op, e.Err) }

func (e *StoreError) Unwrap() error { return e.Err }
