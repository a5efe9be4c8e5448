import { randomUUID } from "node:crypto";
import { type Metadata, status } from "@grpc/grpc-js";
import type {
  CancelSagaRequest,
  CancelSagaResponse,
  CoordinatorServiceServer,
  GetSagaRequest,
  GetSagaResponse,
  ListSagasRequest,
  ListSagasResponse,
  Saga,
  StartSagaRequest,
  StartSagaResponse,
} from "@saga-coordinator/proto";
import type { Logger } from "pino";
import type { ParticipantRegistry } from "../config/participant-registry.js";
import { SagaNotFoundError } from "../driver/driver-errors.js";
import type { PartitionOwnership } from "../driver/partition-ownership.js";
import type { SagaEventBus } from "../driver/saga-event-bus.js";
import { type DefinitionLimits, validateDefinition } from "../engine/validate-definition.js";
import { sagaKey } from "../store/saga-key.js";
import type { SagaRecord } from "../store/saga-record.js";
import type { SagaStore } from "../store/saga-store.js";
import { definitionFromRequest } from "./definition-from-request.js";
import { definitionHash } from "./definition-hash.js";
import { invalidArgument, StatusError } from "./grpc-errors.js";
import { OwnershipLossMonitor } from "./ownership-loss-monitor.js";
import { decodePageToken, encodePageToken, filterDigest } from "./page-token.js";
import { localRouter, type RequestRouter, unaryCall, type WriteOptions } from "./request-router.js";
import {
  participantProblem,
  requireNamespace,
  requireReason,
  requireSagaId,
  requireSagaKey,
} from "./request-validation.js";
import { eventToProto, sagaStatusFromProto, sagaToProto } from "./saga-to-proto.js";
import type { SagaWriter } from "./saga-writer.js";
import type { StreamLimits } from "./stream-limits.js";
import { unary } from "./unary-handler.js";
import { watchSagaHandler } from "./watch-saga-handler.js";

export interface CoordinatorServiceDeps {
  store: SagaStore;
  writer: SagaWriter;
  /** Where writes run; defaults to this node. */
  router?: RequestRouter;
  bus: SagaEventBus;
  /** Which partitions this node drives: WatchSaga serves those from the bus and forwards the rest. */
  ownership?: PartitionOwnership;
  partitionOf?: (sagaId: string) => number;
  limits: DefinitionLimits;
  /** The participants steps may name, with the namespaces each serves. */
  participants: ParticipantRegistry;
  /** WatchSaga streams per node and per caller. */
  watchLimits?: StreamLimits;
  /** Who is calling (for per-caller limits). */
  callerOf?: (call: { metadata: Metadata; getPeer(): string }) => string;
  /** Whether steps may name a host:port instead of a registered participant. */
  allowDirectParticipants: boolean;
  logger: Logger;
  now?: () => number;
}

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
/**
 * A ListSagas page stops before this many bytes of sagas (payloads and outputs
 * count), under the 4 MiB a gRPC client accepts by default; a single larger
 * saga still makes a page of one. The store is read in chunks, so a page of
 * big sagas never sits in memory a thousand at a time.
 */
const MAX_PAGE_BYTES = 3 * 1024 * 1024;
const LIST_CHUNK = 100;

/** Roughly what a saga weighs on the wire: its errors (and payloads and outputs, when sent), plus a little per step. */
function approximateBytes(r: SagaRecord, withPayloads: boolean): number {
  let bytes = 256;
  for (const d of r.definition.steps) {
    const s = r.state.steps[d.name];
    const data = withPayloads ? d.payload.length + (s?.output?.length ?? 0) : 0;
    bytes += 128 + data + (s?.lastError.length ?? 0);
  }
  return bytes;
}

/** A saga without its steps' payloads and outputs (ListSagas' default). */
function summaryOf(saga: Saga): Saga {
  return {
    ...saga,
    steps: saga.steps.map((s) => ({
      ...s,
      output: EMPTY,
      ...(s.definition ? { definition: { ...s.definition, payload: EMPTY } } : {}),
    })),
  };
}
const EMPTY = Buffer.alloc(0);

export function coordinatorService(deps: CoordinatorServiceDeps): CoordinatorServiceServer {
  const { store, writer, bus, limits, logger } = deps;
  const router = deps.router ?? localRouter;
  const now = deps.now ?? Date.now;

  const startSaga = async (req: StartSagaRequest, opts: WriteOptions): Promise<StartSagaResponse> => {
    const namespace = requireNamespace(req.namespace);
    const sagaId = req.sagaId === "" ? randomUUID() : requireSagaId(req.sagaId);
    const key = sagaKey(namespace, sagaId);
    // Before mapping anything: a request of two million empty steps must cost nothing.
    if (req.steps.length > limits.maxSteps) {
      throw invalidArgument(
        `steps: ${req.steps.length} steps given; at most ${limits.maxSteps} steps per saga are allowed`,
      );
    }
    const definition = definitionFromRequest(req);
    const problem = validateDefinition(definition, limits, now());
    if (problem) throw invalidArgument(problem);
    for (const [i, step] of definition.steps.entries()) {
      const bad = participantProblem(
        step.participant,
        deps.participants.nameSet,
        deps.allowDirectParticipants,
      );
      if (bad) throw invalidArgument(`steps[${i}].participant: ${bad}`);
      if (!deps.participants.allows(step.participant, namespace)) {
        const allowed = [...(deps.participants.get(step.participant)?.namespaces ?? [])].join(", ");
        throw new StatusError(
          status.PERMISSION_DENIED,
          `steps[${i}].participant: "${step.participant}" does not serve namespace "${namespace}" (it serves: ${allowed})`,
        );
      }
    }
    return router.route(
      key,
      opts,
      async () => {
        const hash = definitionHash(definition);
        const { record, created } = await writer.startSaga({ sagaId: key, definition, definitionHash: hash });
        return { saga: sagaToProto(record), created };
      },
      (node, md, o) => unaryCall(node.coordinator, node.coordinator.startSaga, { ...req, sagaId }, md, o),
    );
  };

  const getSaga = async (req: GetSagaRequest): Promise<GetSagaResponse> => {
    const sagaId = requireSagaKey(req);
    const record = await store.get(sagaId);
    if (!record) throw new SagaNotFoundError(sagaId);
    const history = [];
    if (req.includeHistory) {
      let after = 0;
      for (;;) {
        const batch = await store.events(sagaId, after, 1000);
        history.push(...batch.map(eventToProto));
        if (batch.length < 1000) break;
        after = batch.at(-1)?.sequence ?? after;
      }
    }
    return { saga: sagaToProto(record), history };
  };

  const listSagas = async (req: ListSagasRequest): Promise<ListSagasResponse> => {
    if (req.pageSize > MAX_PAGE)
      throw invalidArgument(`page_size: ${req.pageSize}; allowed 1..${MAX_PAGE} (0 means ${DEFAULT_PAGE})`);
    const limit = req.pageSize === 0 ? DEFAULT_PAGE : req.pageSize;
    const status = sagaStatusFromProto(req.status);
    if (req.status !== 0 && !status) throw invalidArgument(`status: unknown value ${req.status}`);
    const namespace = requireNamespace(req.namespace);
    const filters = { status, sagaType: req.sagaType, labels: Object.entries(req.labels).sort(), namespace };
    const digest = filterDigest(filters);
    const after = req.pageToken ? decodePageToken(req.pageToken, digest) : undefined;
    const page: SagaRecord[] = [];
    let bytes = 0;
    let cursor = after;
    let more = true;
    let full = false;
    while (more && !full && page.length < limit) {
      // One more than the chunk tells whether anything follows it.
      const want = Math.min(LIST_CHUNK, limit - page.length) + 1;
      const rows = await store.list({
        ...(status ? { status } : {}),
        ...(req.sagaType ? { sagaType: req.sagaType } : {}),
        labels: req.labels,
        namespace,
        limit: want,
        ...(cursor ? { after: cursor } : {}),
      });
      more = rows.length === want;
      for (const row of more ? rows.slice(0, -1) : rows) {
        const size = approximateBytes(row, req.includePayloads === true);
        if (page.length > 0 && bytes + size > MAX_PAGE_BYTES) {
          full = true;
          break;
        }
        page.push(row);
        bytes += size;
      }
      const last = page.at(-1);
      if (last) cursor = { createdAt: last.createdAt, sagaId: last.sagaId };
    }
    const lastOfPage = page.at(-1);
    const nextPageToken =
      (more || full) && lastOfPage
        ? encodePageToken({ createdAt: lastOfPage.createdAt, sagaId: lastOfPage.sagaId }, digest)
        : "";
    const sagas = page.map(sagaToProto);
    return { sagas: req.includePayloads ? sagas : sagas.map(summaryOf), nextPageToken };
  };

  const cancelSaga = async (req: CancelSagaRequest, opts: WriteOptions): Promise<CancelSagaResponse> => {
    const sagaId = requireSagaKey(req);
    const reason = requireReason(req.reason);
    return router.route(
      sagaId,
      opts,
      async () => ({ saga: sagaToProto(await writer.cancel(sagaId, reason)) }),
      (node, md, o) => unaryCall(node.coordinator, node.coordinator.cancelSaga, req, md, o),
    );
  };

  return {
    startSaga: unary(logger, startSaga),
    getSaga: unary(logger, getSaga),
    listSagas: unary(logger, listSagas),
    cancelSaga: unary(logger, cancelSaga),
    watchSaga: watchSagaHandler({
      store,
      bus,
      router,
      ...(deps.ownership ? { ownershipLoss: new OwnershipLossMonitor(deps.ownership) } : {}),
      partitionOf: deps.partitionOf ?? (() => 0),
      logger,
      ...(deps.watchLimits ? { limits: deps.watchLimits } : {}),
      ...(deps.callerOf ? { callerOf: deps.callerOf } : {}),
    }),
  };
}
