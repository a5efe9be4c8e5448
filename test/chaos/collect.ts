import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { type GetSagaResponse, SagaEventType, SagaStatus, StepStatus } from "@saga-coordinator/proto";
import { Etcd3 } from "etcd3";
import { MongoClient } from "mongodb";
import { partitionOf } from "../../coordinator/src/cluster/partition-of.js";
import { call } from "../support/grpc-call.js";
import { effectsOf } from "../support/participant-effects.js";
import type { ChaosLab } from "./chaos-lab.js";
import type { EtcdSnapshot, NodeStatusView } from "./cluster-convergence.js";
import { type EffectCount, type FinalSaga, type LedgerLookup, NO_EFFECT } from "./invariants.js";
import { readLedger } from "./participant/journal-barrier-store.js";
import type { SagaTimeline } from "./recovery.js";
import type { PlannedSaga } from "./saga-mix.js";

// Reads the end state of a run: every saga through GetSaga, both
// participants' ledgers, the cluster as etcd and every node see it.

const tsToMs = (t?: Date) => t?.getTime() ?? 0;

/** GetSaga through any running node (the first that answers); failing everywhere is retried until `retryUntil` (default 30 s). */
export async function getSaga(
  lab: ChaosLab,
  sagaId: string,
  includeHistory: boolean,
  retryUntil = Date.now() + 30_000,
): Promise<GetSagaResponse> {
  const until = retryUntil;
  for (;;) {
    let last: unknown = new Error("no coordinator is running");
    for (const c of lab.coordinators.values()) {
      if (!c.process.running) continue;
      try {
        return await call(c.client.getSaga, c.client, { sagaId, includeHistory }, 8_000);
      } catch (err) {
        last = err;
        if ((err as ServiceError).code === grpcStatus.NOT_FOUND) throw err;
      }
    }
    if (Date.now() > until) throw last;
    await sleep(1_000);
  }
}

/** Runs `f` over `items` with at most `concurrency` at a time. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  f: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i] as T);
    }),
  );
  return out;
}

export function statusName(s: SagaStatus | undefined): string {
  return (SagaStatus[s ?? 0] ?? "UNKNOWN").replace("SAGA_STATUS_", "");
}

const DISPATCHES = new Set([
  SagaEventType.SAGA_EVENT_TYPE_STEP_DISPATCHED,
  SagaEventType.SAGA_EVENT_TYPE_COMPENSATION_DISPATCHED,
]);

/** Each dispatch in the history, and the time of its step's next event (its answer, or a re-send). */
function callsOf(history: GetSagaResponse["history"]): NonNullable<SagaTimeline["calls"]> {
  const calls: NonNullable<SagaTimeline["calls"]> = [];
  const open = new Map<string, { sentAt: number; endedAt?: number }>();
  for (const e of history) {
    if (!e.step) continue;
    const at = tsToMs(e.time);
    const pending = open.get(e.step);
    if (pending) {
      pending.endedAt = at;
      open.delete(e.step);
    }
    if (DISPATCHES.has(e.type)) {
      const call = { sentAt: at };
      calls.push(call);
      open.set(e.step, call);
    }
  }
  return calls;
}

export interface SagaEnd {
  final: FinalSaga;
  timeline: SagaTimeline;
}

export async function readSagas(
  lab: ChaosLab,
  planned: readonly PlannedSaga[],
): Promise<Map<string, SagaEnd>> {
  const readBy = Date.now() + 180_000;
  const ends = await mapLimit(planned, 8, async (p): Promise<SagaEnd> => {
    const timeline: SagaTimeline = {
      sagaId: p.sagaId,
      partition: partitionOf(p.sagaId, lab.settings.partitions),
      eventTimes: [],
    };
    let res: GetSagaResponse;
    try {
      // Retries end 3 minutes into the reading: a cluster that does not answer must not stall the report.
      res = await getSaga(lab, p.sagaId, true, Math.min(Date.now() + 30_000, readBy));
    } catch (err) {
      // NOT_FOUND: never created (a StartSaga that was not accepted), or lost.
      const notFound = (err as ServiceError).code === grpcStatus.NOT_FOUND;
      const status = notFound ? "MISSING" : `UNREADABLE (${String(err).slice(0, 80)})`;
      return { final: { sagaId: p.sagaId, status, steps: [] }, timeline };
    }
    if (!res.saga) return { final: { sagaId: p.sagaId, status: "MISSING", steps: [] }, timeline };
    const steps = res.saga.steps.map((st) => {
      const name = st.definition?.name ?? "";
      let effectId: string | undefined;
      if (name !== "ship" && st.output.length > 0) {
        try {
          effectId = (JSON.parse(Buffer.from(st.output).toString("utf8")) as { effectId?: string }).effectId;
        } catch {
          effectId = "(unparsable output)";
        }
      }
      return {
        name,
        status: (StepStatus[st.status] ?? "UNKNOWN").replace("STEP_STATUS_", ""),
        ...(effectId !== undefined ? { effectId } : {}),
        outcomeUnknown: st.outcomeUnknown,
      };
    });
    timeline.eventTimes = res.history.map((e) => tsToMs(e.time));
    timeline.calls = callsOf(res.history);
    const finished = res.history.find(
      (e) =>
        e.type === SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED &&
        (e.status === SagaStatus.SAGA_STATUS_COMPLETED || e.status === SagaStatus.SAGA_STATUS_COMPENSATED),
    );
    if (finished) timeline.finishedAt = tsToMs(finished.time);
    return { final: { sagaId: p.sagaId, status: statusName(res.saga.status), steps }, timeline };
  });
  return new Map(ends.map((e) => [e.final.sagaId, e]));
}

/** Both ledgers as one lookup: "ship" steps from the Go participant, the rest from the TypeScript journal. */
export async function readLedgers(lab: ChaosLab, planned: readonly PlannedSaga[]): Promise<LedgerLookup> {
  const ts = new Map<string, EffectCount>();
  for (const e of readLedger(path.join(lab.settings.runDir, "participant-ts.journal"))) {
    const c = ts.get(e.key) ?? { applied: 0, undone: 0, applyIds: [], applyTimes: [], undoTimes: [] };
    if (e.op === "apply") {
      c.applied++;
      c.applyIds.push(e.effectId);
      c.applyTimes.push(e.at);
    } else {
      c.undone++;
      c.undoTimes.push(e.at);
    }
    ts.set(e.key, c);
  }
  const go = new Map<string, EffectCount>();
  const goAddress = lab.participantAddress("go");
  const withShip = planned.filter((p) => p.steps.some((s) => s.participant === "go"));
  await mapLimit(withShip, 8, async (p) => {
    const c = await effectsOf(goAddress, p.sagaId, "ship");
    go.set(`${p.sagaId}/ship`, { ...NO_EFFECT, applied: c.executed, undone: c.compensated });
  });
  return (key) => (key.endsWith("/ship") ? go.get(key) : ts.get(key)) ?? NO_EFFECT;
}

export async function readEtcd(lab: ChaosLab): Promise<EtcdSnapshot> {
  const client = new Etcd3({ hosts: lab.etcd.url });
  try {
    const prefix = lab.etcdPrefix;
    const [members, owners, assignment] = await Promise.all([
      client.getAll().prefix(`${prefix}/members/`).exec(),
      client.getAll().prefix(`${prefix}/owners/`).exec(),
      client.get(`${prefix}/assignment`).string(),
    ]);
    return {
      members: new Map(
        members.kvs.map((kv) => [kv.key.toString().slice(`${prefix}/members/`.length), kv.lease]),
      ),
      owners: new Map(
        owners.kvs.map((kv) => [
          Number(kv.key.toString().slice(`${prefix}/owners/`.length)),
          { nodeId: ownerNodeId(kv.value.toString()), lease: kv.lease },
        ]),
      ),
      assignment: assignment ? ((JSON.parse(assignment) as { owners?: string[] }).owners ?? []) : [],
    };
  } finally {
    client.close();
  }
}

/** An ownership key's value: the node id, or a JSON object with a nodeId. */
function ownerNodeId(value: string): string {
  if (!value.startsWith("{")) return value;
  try {
    return String((JSON.parse(value) as { nodeId?: string }).nodeId ?? value);
  } catch {
    return value;
  }
}

export async function readNodeStatuses(lab: ChaosLab): Promise<NodeStatusView[]> {
  const views: NodeStatusView[] = [];
  for (const c of lab.coordinators.values()) {
    if (!c.process.running) continue;
    try {
      const s = await call(c.admin.getClusterStatus, c.admin, {}, 5_000);
      views.push({ via: c.nodeId, members: s.members.map((m) => m.nodeId), partitions: s.partitions });
    } catch (err) {
      views.push({
        via: c.nodeId,
        members: [`(GetClusterStatus failed: ${String(err).slice(0, 60)})`],
        partitions: [],
      });
    }
  }
  return views;
}

/**
 * The raw store documents of sagas that did not finish (minus their history), plus
 * who holds their partitions in etcd: what a diagnosis of a stuck saga starts from.
 */
export async function dumpStuckSagas(lab: ChaosLab, sagaIds: readonly string[]): Promise<unknown[]> {
  const client = new MongoClient(lab.mongo.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const docs = await client
      .db(lab.database)
      .collection<{ _id: string }>("sagas")
      .find({ _id: { $in: [...sagaIds] } }, { projection: { history: 0, events: 0 } })
      .toArray();
    const etcd = await readEtcd(lab).catch(() => undefined);
    return await Promise.all(
      docs.map(async (d) => {
        const partition = (d as { partition?: number }).partition;
        const holder = partition === undefined ? undefined : etcd?.owners.get(partition);
        // What each node's GetSaga answers: a node that disagrees with the document above reads a stale copy.
        const perNode: Record<string, string> = {};
        for (const c of lab.coordinators.values()) {
          if (!c.process.running) continue;
          perNode[c.nodeId] = await call(
            c.client.getSaga,
            c.client,
            { sagaId: d._id, includeHistory: false },
            8_000,
          )
            .then((r) => `${statusName(r.saga?.status)} version ${r.saga?.version}`)
            .catch((err: unknown) => String(err).slice(0, 100));
        }
        return {
          ...d,
          etcdOwner: holder?.nodeId,
          etcdAssigned: partition === undefined ? undefined : etcd?.assignment[partition],
          getSagaPerNode: perNode,
        };
      }),
    );
  } finally {
    await client.close();
  }
}
