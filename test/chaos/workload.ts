import { setTimeout as sleep } from "node:timers/promises";
import type { ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { StartSagaRequest } from "@saga-coordinator/proto";
import { call } from "../support/grpc-call.js";
import type { ChaosLab } from "./chaos-lab.js";

// Starts the planned sagas at a steady pace through the fault window, like a
// client would: StartSaga on one node, on failure the same saga_id on the next
// node (StartSaga is idempotent on saga_id), and records every attempt so the
// report can tell how available StartSaga was during the faults.

export interface StartAttempt {
  sagaId: string;
  node: string;
  /** Epoch ms the attempt was sent. */
  at: number;
  /** "OK" or the gRPC status name. */
  outcome: string;
}

export interface StartResult {
  sagaId: string;
  accepted: boolean;
  /** ms from the first attempt to the accepting one (or to giving up). */
  tookMs: number;
}

export interface WorkloadSettings {
  /** When saga i may start at the earliest: startAt + i * spacingMs. */
  startAt: number;
  spacingMs: number;
  concurrency: number;
  attemptTimeoutMs: number;
  /** Give a saga up after trying this long. */
  giveUpMs: number;
  /** Epoch ms after which no saga is tried any more (set once the faults are over). */
  stopBy: number;
  /** Told how far the workload is, now and then. */
  progress: (line: string) => void;
}

export async function startSagas(
  lab: ChaosLab,
  requests: readonly StartSagaRequest[],
  settings: WorkloadSettings,
  attempts: StartAttempt[],
): Promise<StartResult[]> {
  const nodes = [...lab.coordinators.values()];
  const results: StartResult[] = [];
  let next = 0;
  let lastReport = Date.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      const req = requests[i];
      if (!req) return;
      const due = settings.startAt + i * settings.spacingMs;
      if (due > Date.now()) await sleep(due - Date.now());
      if (Date.now() - lastReport > 30_000) {
        lastReport = Date.now();
        const accepted = results.filter((r) => r.accepted).length;
        settings.progress(
          `  ${accepted} sagas accepted, ${results.length - accepted} given up, ${i} of ${requests.length} tried`,
        );
      }
      const first = Date.now();
      let accepted = false;
      const giveUpAt = () => Math.min(first + settings.giveUpMs, settings.stopBy);
      for (let attempt = 0; !accepted && Date.now() < giveUpAt(); attempt++) {
        const node = nodes[(i + attempt) % nodes.length];
        if (!node) break;
        const at = Date.now();
        try {
          await call(node.client.startSaga, node.client, req, settings.attemptTimeoutMs);
          attempts.push({ sagaId: req.sagaId, node: node.nodeId, at, outcome: "OK" });
          accepted = true;
        } catch (err) {
          const code = (err as ServiceError).code;
          attempts.push({ sagaId: req.sagaId, node: node.nodeId, at, outcome: status[code] ?? String(code) });
          await sleep(100);
        }
      }
      results.push({ sagaId: req.sagaId, accepted, tookMs: Date.now() - first });
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, worker));
  return results;
}
