import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerWritableStream,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import {
  type CoordinatorServiceServer,
  CoordinatorServiceService,
  type Saga,
  type SagaEvent,
  SagaEventType,
  SagaStatus,
  type StartSagaRequest,
  StepStatus,
  type WatchSagaRequest,
  type WatchSagaResponse,
} from "@saga-coordinator/proto";
import { Counter, latch } from "./latch.js";

type Method = "StartSaga" | "GetSaga" | "ListSagas" | "CancelSaga" | "WatchSaga";

interface Entry {
  request: StartSagaRequest;
  saga: Saga;
  events: SagaEvent[];
  watchers: Set<ServerWritableStream<WatchSagaRequest, WatchSagaResponse>>;
}

const TERMINAL = new Set([
  SagaStatus.SAGA_STATUS_COMPLETED,
  SagaStatus.SAGA_STATUS_COMPENSATED,
  SagaStatus.SAGA_STATUS_FAILED,
]);

function grpcError(code: status, details: string): Partial<ServiceError> {
  return { code, details, metadata: new Metadata() };
}

/**
 * A test double of the coordinator's client API: sagas live in memory and
 * move only when the test says so (`setStatus`). It can answer the next
 * calls of a method with an error and break open watch streams, to exercise
 * a client's retries and resumption. Tests wait for what it saw through its
 * counters (`watchesOpened.reached(n)`, ...), never for a guessed delay.
 */
export class FakeCoordinator {
  readonly calls: Record<Method, number> = {
    StartSaga: 0,
    GetSaga: 0,
    ListSagas: 0,
    CancelSaga: 0,
    WatchSaga: 0,
  };
  /** Requests as received, per method. */
  readonly startRequests: StartSagaRequest[] = [];
  cancelledWatches = 0;
  /** Watch streams that have been replayed their history and now wait for live events. */
  readonly watchesOpened = new Counter();
  /** Watch streams the client cancelled. */
  readonly watchesCancelled = new Counter();
  address = "";
  private readonly server = new Server();
  private readonly sagas = new Map<string, Entry>();
  private readonly faults = new Map<Method, { code: status; remaining: number }>();
  private readonly holds = new Map<Method, Promise<void>>();
  private readonly watchesClosed: (() => void)[] = [];
  private clock = Date.parse("2030-01-01T00:00:00Z");

  async start(): Promise<this> {
    const implementation: CoordinatorServiceServer = {
      startSaga: (call, cb) =>
        this.unary("StartSaga", cb, () => {
          this.startRequests.push(call.request);
          return this.startSaga(call.request);
        }),
      getSaga: (call, cb) =>
        this.unary("GetSaga", cb, () => {
          const entry = this.entry(call.request.sagaId);
          return { saga: entry.saga, history: call.request.includeHistory ? entry.events : [] };
        }),
      listSagas: (call, cb) =>
        this.unary("ListSagas", cb, () => {
          const { sagaType, pageSize, pageToken, status: wanted } = call.request;
          const all = [...this.sagas.values()]
            .map((e) => e.saga)
            .filter(
              (s) => (sagaType === "" || s.sagaType === sagaType) && (wanted === 0 || s.status === wanted),
            )
            .reverse();
          const offset = pageToken === "" ? 0 : Number(pageToken);
          const size = pageSize || 100;
          const page = all.slice(offset, offset + size);
          const next = offset + size < all.length ? String(offset + size) : "";
          return { sagas: page, nextPageToken: next };
        }),
      cancelSaga: (call, cb) =>
        this.unary("CancelSaga", cb, () => {
          const entry = this.entry(call.request.sagaId);
          if (TERMINAL.has(entry.saga.status)) {
            throw grpcError(status.FAILED_PRECONDITION, `saga ${call.request.sagaId} has already ended`);
          }
          this.append(
            entry,
            SagaEventType.SAGA_EVENT_TYPE_CANCEL_REQUESTED,
            entry.saga.status,
            call.request.reason,
          );
          this.setStatus(call.request.sagaId, SagaStatus.SAGA_STATUS_COMPENSATING, call.request.reason);
          return { saga: entry.saga };
        }),
      watchSaga: (call) => this.watch(call),
    };
    this.server.addService(CoordinatorServiceService, implementation);
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.forceShutdown();
      resolve();
    });
  }

  /** The next `times` calls of `method` fail with `code`. */
  failNext(method: Method, code: status, times = 1): void {
    this.faults.set(method, { code, remaining: times });
  }

  /** Calls of `method` get no answer until the returned function is called (or their deadline passes). */
  hold(method: Method): () => void {
    const gate = latch();
    this.holds.set(method, gate.opened);
    return () => {
      this.holds.delete(method);
      gate.open();
    };
  }

  /** Resolves once no watch stream is open (at once if none is). */
  noOpenWatches(): Promise<void> {
    if (this.openWatches() === 0) return Promise.resolve();
    return new Promise((resolve) => this.watchesClosed.push(resolve));
  }

  /** Moves a saga to `next`, recording a STATUS_CHANGED event (and ends watches when terminal). */
  setStatus(sagaId: string, next: SagaStatus, reason = ""): void {
    const entry = this.entry(sagaId);
    entry.saga = {
      ...entry.saga,
      status: next,
      reason,
      version: entry.saga.version + 1,
      updatedAt: this.now(),
    };
    this.append(entry, SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED, next, reason);
  }

  /** Appends a step event without a status change. */
  stepEvent(sagaId: string, type: SagaEventType, step: string): void {
    const entry = this.entry(sagaId);
    this.append(entry, type, entry.saga.status, "", step);
  }

  /** Ends every open watch stream with UNAVAILABLE, as a coordinator handing a partition over would. */
  breakWatches(): void {
    for (const entry of this.sagas.values()) {
      for (const w of entry.watchers) w.emit("error", grpcError(status.UNAVAILABLE, "partition moving"));
      entry.watchers.clear();
    }
    this.watchClosed();
  }

  openWatches(): number {
    return [...this.sagas.values()].reduce((n, e) => n + e.watchers.size, 0);
  }

  private startSaga(request: StartSagaRequest) {
    if (request.sagaType === "") throw grpcError(status.INVALID_ARGUMENT, "saga_type: required");
    const existing = this.sagas.get(request.sagaId);
    if (existing) {
      if (JSON.stringify(existing.request.steps) !== JSON.stringify(request.steps)) {
        throw grpcError(status.ALREADY_EXISTS, `saga ${request.sagaId} exists with a different definition`);
      }
      return { saga: existing.saga, created: false };
    }
    const saga: Saga = {
      sagaId: request.sagaId,
      namespace: request.namespace || "default",
      sagaType: request.sagaType,
      status: SagaStatus.SAGA_STATUS_RUNNING,
      steps: request.steps.map((definition) => ({
        definition,
        status: StepStatus.STEP_STATUS_PENDING,
        attempts: 0,
        compensateAttempts: 0,
        output: Buffer.alloc(0),
        lastError: "",
        outcomeUnknown: false,
      })),
      labels: request.labels,
      createdAt: this.now(),
      updatedAt: this.now(),
      reason: "",
      version: 1,
    };
    const entry: Entry = { request, saga, events: [], watchers: new Set() };
    this.sagas.set(request.sagaId, entry);
    this.append(entry, SagaEventType.SAGA_EVENT_TYPE_SAGA_STARTED, saga.status, "");
    return { saga, created: true };
  }

  private watch(call: ServerWritableStream<WatchSagaRequest, WatchSagaResponse>): void {
    this.calls.WatchSaga++;
    const fault = this.takeFault("WatchSaga");
    if (fault !== undefined) {
      call.emit("error", grpcError(fault, "injected fault"));
      return;
    }
    const entry = this.sagas.get(call.request.sagaId);
    if (!entry) {
      call.emit("error", grpcError(status.NOT_FOUND, `no saga ${call.request.sagaId}`));
      return;
    }
    for (const event of entry.events) if (event.sequence > call.request.afterSequence) call.write({ event });
    if (TERMINAL.has(entry.saga.status)) {
      call.end();
      return;
    }
    entry.watchers.add(call);
    call.on("cancelled", () => {
      this.cancelledWatches++;
      this.watchesCancelled.bump();
      entry.watchers.delete(call);
      this.watchClosed();
    });
    this.watchesOpened.bump();
  }

  private watchClosed(): void {
    if (this.openWatches() > 0) return;
    for (const resolve of this.watchesClosed.splice(0)) resolve();
  }

  private append(entry: Entry, type: SagaEventType, sagaStatus: SagaStatus, detail: string, step = ""): void {
    const event: SagaEvent = {
      sagaId: entry.saga.sagaId,
      namespace: entry.saga.namespace,
      sequence: entry.events.length + 1,
      type,
      time: this.now(),
      step,
      attempt: 0,
      status: sagaStatus,
      detail,
    };
    entry.events.push(event);
    for (const w of entry.watchers) {
      w.write({ event });
      if (TERMINAL.has(sagaStatus)) w.end();
    }
    if (TERMINAL.has(sagaStatus)) {
      entry.watchers.clear();
      this.watchClosed();
    }
  }

  private async unary<Res>(
    method: Method,
    cb: (err: Partial<ServiceError> | null, res?: Res) => void,
    run: () => Res,
  ): Promise<void> {
    this.calls[method]++;
    const held = this.holds.get(method);
    if (held) await held;
    const fault = this.takeFault(method);
    if (fault !== undefined) return cb(grpcError(fault, "injected fault"));
    try {
      cb(null, run());
    } catch (err) {
      cb(err as Partial<ServiceError>);
    }
  }

  private takeFault(method: Method): status | undefined {
    const fault = this.faults.get(method);
    if (!fault || fault.remaining === 0) return undefined;
    fault.remaining--;
    return fault.code;
  }

  private entry(sagaId: string): Entry {
    const entry = this.sagas.get(sagaId);
    if (!entry) throw grpcError(status.NOT_FOUND, `no saga ${sagaId}`);
    return entry;
  }

  private now(): Date {
    this.clock += 1_000;
    return new Date(this.clock);
  }
}
