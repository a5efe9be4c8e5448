import { setTimeout as sleep } from "node:timers/promises";
import { type ChannelCredentials, type ChannelOptions, credentials, Metadata, status } from "@grpc/grpc-js";
import {
  CoordinatorServiceClient,
  type Saga,
  type SagaEvent,
  SagaStatus,
  type StartSagaRequest,
  type WatchSagaResponse,
} from "@saga-coordinator/proto";
import { ExponentialBackoff, handleWhen, type IBackoff, type RetryPolicy, retry } from "cockatiel";
import { isServiceError, type UnaryMethod, unaryCall } from "../grpc/unary-call.js";
import type { SagaBuilder } from "./saga-builder.js";
import { SagaClientError } from "./saga-client-error.js";
import { isTerminalStatus } from "./terminal-status.js";

/** How calls answered UNAVAILABLE are retried (the coordinator is starting, draining or handing over). */
export interface ClientRetryOptions {
  /** Attempts in all, including the first. Default 5. */
  maxAttempts?: number;
  /** First backoff. Default 100 ms. */
  initialDelayMs?: number;
  /** Backoff cap. Default 5 s. */
  maxDelayMs?: number;
}

export interface SagaClientOptions {
  /** The coordinator's "host:port" (any node of a cluster). */
  address: string;
  /** Deadline of each unary attempt, unless a call gives its own. Default 10 s. */
  deadlineMs?: number;
  /** Retries on UNAVAILABLE; false: none. */
  retry?: ClientRetryOptions | false;
  /** Default: insecure (plaintext). */
  credentials?: ChannelCredentials;
  /**
   * Sent as "authorization: Bearer <token>" on every call (an API token or a
   * JWT). Needs TLS `credentials`: grpc-js sends no call credentials in plaintext.
   */
  bearerToken?: string;
  /**
   * The namespace every call of this client works in (default: "default").
   * Saga ids are unique per namespace.
   */
  namespace?: string;
  channelOptions?: ChannelOptions;
}

/** Options of one call. */
export interface CallOptions {
  /** Deadline of each attempt of this call. */
  deadlineMs?: number;
  /** Stops the call (and its retries). */
  signal?: AbortSignal;
}

export interface StartOptions extends CallOptions {}

export interface StartResult {
  saga: Saga;
  /** False when a saga with this id and the same definition already existed. */
  created: boolean;
}

/** Filters of list(); they combine with AND. */
export interface ListFilter {
  status?: SagaStatus;
  sagaType?: string;
  labels?: Record<string, string>;
  /** Sagas per page, 1..1000 (default 100). */
  pageSize?: number;
  /** Resume from a page token of an earlier listing with the same filters. */
  pageToken?: string;
  /** Also return each step's payload and output (default: summaries without them). */
  includePayloads?: boolean;
}

/** One page of list(). */
export interface SagaPage {
  sagas: Saga[];
  /** Token of the next page; "" on the last page. */
  nextPageToken: string;
}

export interface WatchOptions {
  /** Only events after this sequence number (to resume). Default 0: the whole history. */
  afterSequence?: number;
  /** Ends the stream. */
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** Give up (SagaClientError DEADLINE_EXCEEDED) after this long. Default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_DEADLINE_MS = 10_000;

/**
 * A typed client of saga.v1.CoordinatorService. Every failure is a
 * SagaClientError carrying the gRPC code and message; calls answered
 * UNAVAILABLE are retried with exponential backoff.
 */
export class SagaClient {
  private readonly client: CoordinatorServiceClient;
  private readonly deadlineMs: number;
  private readonly namespace: string | undefined;
  private readonly retryOptions: Required<ClientRetryOptions>;
  private readonly retryPolicy: RetryPolicy | null;

  constructor(options: SagaClientOptions) {
    this.client = new CoordinatorServiceClient(
      options.address,
      channelCredentialsOf(options),
      options.channelOptions,
    );
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.namespace = options.namespace;
    this.retryOptions = {
      maxAttempts: options.retry === false ? 1 : (options.retry?.maxAttempts ?? 5),
      initialDelayMs: (options.retry || undefined)?.initialDelayMs ?? 100,
      maxDelayMs: (options.retry || undefined)?.maxDelayMs ?? 5_000,
    };
    this.retryPolicy =
      this.retryOptions.maxAttempts > 1
        ? retry(
            handleWhen((err) => isServiceError(err) && err.code === status.UNAVAILABLE),
            { maxAttempts: this.retryOptions.maxAttempts - 1, backoff: this.backoff() },
          )
        : null;
  }

  /**
   * Starts a saga (idempotent on its id: a retry returns the existing saga
   * with created = false). Accepts a builder (`saga("order").step(...)`) or a
   * ready StartSagaRequest.
   */
  async start(definition: SagaBuilder | StartSagaRequest, options: StartOptions = {}): Promise<StartResult> {
    // Built once, outside the retries, so every attempt carries the same saga id.
    const built = "build" in definition ? definition.build() : definition;
    const request = { ...built, namespace: built.namespace ?? this.namespace };
    const res = await this.unary("StartSaga", this.client.startSaga, request, options);
    return { saga: required(res.saga, "StartSaga"), created: res.created };
  }

  /** The saga with every step's state. NOT_FOUND if there is none. */
  async get(sagaId: string, options: CallOptions = {}): Promise<Saga> {
    const res = await this.unary(
      "GetSaga",
      this.client.getSaga,
      { sagaId, namespace: this.namespace, includeHistory: false },
      options,
    );
    return required(res.saga, "GetSaga");
  }

  /** The saga's events, oldest first. */
  async history(sagaId: string, options: CallOptions = {}): Promise<SagaEvent[]> {
    const res = await this.unary(
      "GetSaga",
      this.client.getSaga,
      { sagaId, namespace: this.namespace, includeHistory: true },
      options,
    );
    return res.history;
  }

  /** Pages of sagas, newest first; fetches the next page only when iterated. */
  async *list(filter: ListFilter = {}, options: CallOptions = {}): AsyncGenerator<SagaPage> {
    let pageToken = filter.pageToken ?? "";
    do {
      const res = await this.unary(
        "ListSagas",
        this.client.listSagas,
        {
          status: filter.status ?? 0,
          sagaType: filter.sagaType ?? "",
          labels: filter.labels ?? {},
          pageSize: filter.pageSize ?? 0,
          pageToken,
          namespace: this.namespace,
          includePayloads: filter.includePayloads ?? false,
        },
        options,
      );
      yield { sagas: res.sagas, nextPageToken: res.nextPageToken };
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
  }

  /** Cancels a running saga (it compensates). FAILED_PRECONDITION after its pivot or once it ended. */
  async cancel(sagaId: string, reason = "", options: CallOptions = {}): Promise<Saga> {
    const res = await this.unary(
      "CancelSaga",
      this.client.cancelSaga,
      { sagaId, reason, namespace: this.namespace },
      options,
    );
    return required(res.saga, "CancelSaga");
  }

  /**
   * The saga's events: its history, then live events until it is terminal
   * (the iteration then ends). A stream broken by UNAVAILABLE is reopened
   * after the last event seen, so no event is lost or repeated. Leaving the
   * loop early cancels the stream (an HTTP/2 reset); a server tolerates only
   * a burst of such resets per connection (see waitFor), so code that stops
   * watches by the thousand should let them end on their own.
   */
  async *watch(sagaId: string, options: WatchOptions = {}): AsyncGenerator<SagaEvent> {
    for await (const message of this.watchMessages(sagaId, options)) yield message.event;
  }

  /** The stream's messages: each an event; the one that ends the saga also carries the saga. */
  private async *watchMessages(
    sagaId: string,
    options: WatchOptions,
  ): AsyncGenerator<{ event: SagaEvent; saga?: Saga | undefined }> {
    let after = options.afterSequence ?? 0;
    let backoff: IBackoff<unknown> | undefined;
    for (let failures = 0; ; ) {
      if (options.signal?.aborted) throw SagaClientError.from(abortError(), "WatchSaga");
      const stream = this.client.watchSaga(
        { sagaId, namespace: this.namespace, afterSequence: after },
        new Metadata(),
        {},
      );
      const cancel = () => stream.cancel();
      options.signal?.addEventListener("abort", cancel, { once: true });
      try {
        for await (const message of stream as AsyncIterable<WatchSagaResponse>) {
          failures = 0;
          backoff = undefined;
          if (!message.event) continue;
          after = message.event.sequence;
          yield { event: message.event, saga: message.saga };
        }
        return;
      } catch (err) {
        if (options.signal?.aborted) throw SagaClientError.from(abortError(), "WatchSaga");
        const retryable = isServiceError(err) && err.code === status.UNAVAILABLE;
        if (!retryable || ++failures >= this.retryOptions.maxAttempts)
          throw SagaClientError.from(err, "WatchSaga");
        backoff = backoff ? backoff.next(undefined) : this.backoff().next();
        await sleep(backoff.duration, undefined, options.signal ? { signal: options.signal } : {}).catch(
          () => {},
        );
      } finally {
        options.signal?.removeEventListener("abort", cancel);
        // Ends the server stream when the caller stops iterating early.
        stream.cancel();
      }
    }
  }

  /**
   * Resolves with the saga once it is COMPLETED, COMPENSATED or FAILED. It
   * follows one WatchSaga stream (no polling); the stream's last message carries
   * the ended saga, so only FAILED (or an older server) costs a GetSaga at the end.
   */
  async waitFor(sagaId: string, options: WaitOptions = {}): Promise<Saga> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    // A timer cleared on return, not AbortSignal.timeout: many waits in a row leave nothing pending.
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    try {
      let backoff: IBackoff<unknown> | undefined;
      for (;;) {
        let ended: Saga | undefined;
        for await (const { event, saga } of this.watchMessages(sagaId, { signal })) {
          if (saga && isTerminalStatus(saga.status)) ended = saga;
          // The server ends the stream itself after COMPLETED or COMPENSATED: read on to
          // that end. Leaving earlier resets the stream, and a server closes a connection
          // whose client resets streams faster than ~33/s after a burst of 1000
          // (HTTP/2 rapid-reset protection), failing every call on it. FAILED may be
          // resumed, so the server keeps that stream open: only then stop here.
          if (event.status === SagaStatus.SAGA_STATUS_FAILED) break;
        }
        if (ended) return ended;
        const saga = await this.get(sagaId, { signal });
        if (isTerminalStatus(saga.status)) return saga;
        // The stream ended while the saga still runs (a server that ends streams early):
        // look again after a backoff.
        backoff = backoff ? backoff.next(undefined) : this.backoff().next();
        await sleep(backoff.duration, undefined, { signal });
      }
    } catch (err) {
      if (timeout.signal.aborted) {
        throw new SagaClientError(
          status.DEADLINE_EXCEEDED,
          `saga ${sagaId} did not reach a terminal status within ${timeoutMs} ms`,
          "WaitFor",
        );
      }
      throw SagaClientError.from(err, "WaitFor");
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }

  private async unary<Req, Res>(
    method: string,
    fn: UnaryMethod<Req, Res>,
    request: Req,
    options: CallOptions,
  ): Promise<Res> {
    const deadlineMs = options.deadlineMs ?? this.deadlineMs;
    const attempt = () => unaryCall(this.client, fn, request, deadlineMs);
    try {
      if (options.signal?.aborted) throw abortError();
      return await (this.retryPolicy ? this.retryPolicy.execute(attempt, options.signal) : attempt());
    } catch (err) {
      throw SagaClientError.from(err, method);
    }
  }

  private backoff(): ExponentialBackoff<unknown> {
    return new ExponentialBackoff({
      initialDelay: this.retryOptions.initialDelayMs,
      maxDelay: this.retryOptions.maxDelayMs,
    });
  }
}

function required(saga: Saga | undefined, method: string): Saga {
  if (!saga) throw new SagaClientError(status.INTERNAL, "the response carries no saga", method);
  return saga;
}

function abortError(): Error {
  const err = new Error("cancelled by the caller");
  err.name = "AbortError";
  return err;
}

function channelCredentialsOf(options: SagaClientOptions): ChannelCredentials {
  const channel = options.credentials ?? credentials.createInsecure();
  const token = options.bearerToken;
  if (token === undefined) return channel;
  if (!channel._isSecure()) throw new Error("bearerToken needs TLS credentials (tlsChannelCredentials)");
  const bearer = credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    callback(null, metadata);
  });
  return credentials.combineChannelCredentials(channel, bearer);
}
