package effects_test

import (
	"context"
	"errors"
	"testing"

	"github.com/saga-coordinator/examples/go-participant/internal/effects"
	"github.com/saga-coordinator/examples/go-participant/internal/sqlitedb"
)

func TestCountsPerStep(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, sqlitedb.Memory, sqlitedb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := effects.New(ctx, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := db.Begin()
	for _, err := range []error{c.Executed(ctx, tx, "s1/ship"), c.Executed(ctx, tx, "s1/ship"), c.Compensated(ctx, tx, "s1/ship"), c.Executed(ctx, tx, "s2/ship")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"s1/ship/execute":    `{"executed":2,"compensated":1}`,
		"s2/ship/execute":    `{"executed":1,"compensated":0}`,
		"never/ship/execute": `{"executed":0,"compensated":0}`,
	} {
		out, err := c.Answer(ctx, []byte(`{"idempotency_key":"`+key+`"}`))
		if err != nil || string(out) != want {
			t.Fatalf("%s: %s %v, want %s", key, out, err, want)
		}
	}
	for _, bad := range []string{``, `{`, `{}`, `{"idempotency_key": 3}`, `{"idempotency_key":"s1/ship/compensate"}`} {
		var qe *effects.QueryError
		if _, err := c.Answer(ctx, []byte(bad)); !errors.As(err, &qe) {
			t.Fatalf("payload %q: %v, want a QueryError", bad, err)
		}
	}
}
