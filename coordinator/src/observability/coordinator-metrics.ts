import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one coordinator node. */
export class CoordinatorMetrics {
  readonly registry = new Registry();
  readonly sagasStarted = new Counter({
    name: "saga_started_total",
    help: "Sagas created by StartSaga on this node.",
    labelNames: ["saga_type"],
    registers: [this.registry],
  });
  readonly sagasFinished = new Counter({
    name: "saga_finished_total",
    help: "Sagas that reached COMPLETED, COMPENSATED or FAILED (FAILED needs an operator).",
    labelNames: ["saga_type", "status"],
    registers: [this.registry],
  });
  readonly participantCalls = new Histogram({
    name: "saga_participant_call_seconds",
    help: "Duration of participant calls by phase and outcome (ok, business, transient, timeout).",
    labelNames: ["phase", "outcome"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly storeRoundTrips = new Counter({
    name: "saga_store_round_trips_total",
    help: "Commands sent to the database (one per round trip), by command name.",
    labelNames: ["operation"],
    registers: [this.registry],
  });

  constructor(countFailed?: () => Promise<number>) {
    collectDefaultMetrics({ register: this.registry });
    if (countFailed) {
      new Gauge({
        name: "saga_failed_sagas",
        help: "Sagas in FAILED, waiting for an operator (AdminService.ResumeSaga). Read from the store at scrape time.",
        registers: [this.registry],
        async collect() {
          this.set(await countFailed());
        },
      });
    }
  }
}
