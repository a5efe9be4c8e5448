import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import {
  BusinessFailure,
  type CompensateContext,
  checkHealth,
  type ExecuteContext,
  type Participant,
  type StepHandlers,
  startParticipant,
  TransientFailure,
} from "@saga-coordinator/participant-sdk";
import { MongoBarrierStore } from "@saga-coordinator/participant-sdk/barrier/mongodb";
import {
  type CompensateRequest,
  type ExecuteRequest,
  type ExecuteResponse,
  ParticipantServiceClient,
} from "@saga-coordinator/proto";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { afterEach, describe, expect, inject, it } from "vitest";
import { call, callError } from "../support/grpc-call.js";
import { gatedHandler, latch } from "../support/latch.js";
import { ObservedStore, sawInProgress } from "../support/observed-barrier-store.js";

const silent = pino({ level: "silent" });
const started: Participant[] = [];
const clients: ParticipantServiceClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(started.splice(0).map((p) => p.shutdown()));
});

async function participant(
  steps: Record<string, StepHandlers>,
  extra: Partial<Parameters<typeof startParticipant>[0]> = {},
) {
  const p = await startParticipant({ listen: "127.0.0.1:0", steps, logger: silent, ...extra });
  started.push(p);
  const client = new ParticipantServiceClient(p.address, credentials.createInsecure());
  clients.push(client);
  return { p, client };
}

function executeRequest(sagaId: string, step: string, over: Partial<ExecuteRequest> = {}): ExecuteRequest {
  return {
    sagaId,
    sagaType: "order",
    step,
    idempotencyKey: `${sagaId}/${step}/execute`,
    attempt: 1,
    payload: Buffer.from('{"sku":"A1"}'),
    contentType: "application/json",
    dependencyOutputs: {},
    ...over,
  };
}

function compensateRequest(
  sagaId: string,
  step: string,
  over: Partial<CompensateRequest> = {},
): CompensateRequest {
  return {
    sagaId,
    sagaType: "order",
    step,
    idempotencyKey: `${sagaId}/${step}/compensate`,
    attempt: 1,
    payload: Buffer.from('{"sku":"A1"}'),
    contentType: "application/json",
    executeOutput: Buffer.alloc(0),
    reason: "step pay failed",
    ...over,
  };
}

const execute = (client: ParticipantServiceClient, req: ExecuteRequest, timeoutMs?: number) =>
  call<ExecuteRequest, ExecuteResponse>(client.execute, client, req, timeoutMs);
const compensate = (client: ParticipantServiceClient, req: CompensateRequest) =>
  call(client.compensate, client, req);

/** Counts handler runs per phase and remembers the contexts they saw. */
function countingStep(output = (ctx: ExecuteContext) => Buffer.from(`reserved:${ctx.sagaId}`)) {
  const seen = { execute: [] as ExecuteContext[], compensate: [] as CompensateContext[] };
  const handlers: StepHandlers = {
    execute: async (ctx) => {
      seen.execute.push(ctx);
      return output(ctx);
    },
    compensate: async (ctx) => {
      seen.compensate.push(ctx);
    },
  };
  return { seen, handlers };
}

describe("participant server", () => {
  it("refuses to start with the default in-memory barrier when NODE_ENV=production", async () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    try {
      await expect(
        startParticipant({
          listen: "127.0.0.1:0",
          steps: { a: { execute: async () => undefined, compensate: async () => {} } },
        }),
      ).rejects.toThrow("NODE_ENV=production needs a durable barrier store");
    } finally {
      if (before === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = before;
    }
  });

  it("runs Execute with the request in the context and a logger bound to the call", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const logger = pino({ level: "info" }, sink);
    const seen: ExecuteContext[] = [];
    const { client } = await participant(
      {
        reserve: {
          execute: async (ctx) => {
            seen.push(ctx);
            ctx.logger.info("reserving");
            return Buffer.from("r-1");
          },
          compensate: async () => {},
        },
      },
      { logger },
    );
    const sagaId = `s-${randomUUID()}`;
    const res = await execute(
      client,
      executeRequest(sagaId, "reserve", { attempt: 3, dependencyOutputs: { quote: Buffer.from("q") } }),
    );
    expect(res.output.toString()).toBe("r-1");
    const ctx = seen[0] as ExecuteContext;
    expect(ctx).toMatchObject({
      sagaId,
      sagaType: "order",
      step: "reserve",
      idempotencyKey: `${sagaId}/reserve/execute`,
      attempt: 3,
      contentType: "application/json",
    });
    expect(ctx.payload.toString()).toBe('{"sku":"A1"}');
    expect(ctx.dependencyOutputs.quote?.toString()).toBe("q");
    expect(ctx.signal.aborted).toBe(false);
    expect(lines.find((l) => l.msg === "reserving")).toMatchObject({ sagaId, step: "reserve", attempt: 3 });
    expect(lines.find((l) => l.msg === "participant listening")).toBeDefined();
  });

  it("answers a duplicate Execute with the stored output and runs the handler once", async () => {
    const { seen, handlers } = countingStep((ctx) => Buffer.from(`r-${randomUUID()}:${ctx.attempt}`));
    const { client } = await participant({ reserve: handlers });
    const sagaId = `s-${randomUUID()}`;
    const first = await execute(client, executeRequest(sagaId, "reserve"));
    const second = await execute(client, executeRequest(sagaId, "reserve", { attempt: 2 }));
    expect(second.output.toString()).toBe(first.output.toString());
    expect(seen.execute).toHaveLength(1);
  });

  it("100 concurrent duplicate Executes over gRPC on a MongoDB barrier run the handler once", async () => {
    const mongo = new MongoClient(inject("mongoUri"));
    try {
      const db = mongo.db(`participant_${randomUUID().slice(0, 8)}`);
      let runs = 0;
      const running = gatedHandler(Buffer.from(`once-${randomUUID()}`), () => runs++);
      const store = new ObservedStore(new MongoBarrierStore(db));
      const { client } = await participant(
        { reserve: { execute: running.handler, compensate: async () => {} } },
        { barrier: store },
      );
      const sagaId = `s-${randomUUID()}`;
      // The handler runs until the duplicates have found it in progress 99 times.
      const duplicatesWaiting = store.when(sawInProgress(`${sagaId}/reserve`), 99);
      const all = Promise.all(
        Array.from({ length: 100 }, async () => {
          for (;;) {
            try {
              return (await execute(client, executeRequest(sagaId, "reserve"), 30_000)).output.toString();
            } catch (err) {
              // The only legal failures are "in progress, retry" and, on an overloaded machine
              // where 99 waiting duplicates poll the store, a deadline: both are retried.
              expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain((err as ServiceError).code);
            }
          }
        }),
      );
      await Promise.race([duplicatesWaiting, all]); // a failing call ends the wait too
      running.release();
      const outputs = await all;
      expect(runs).toBe(1);
      expect(new Set(outputs).size).toBe(1);
      await db.dropDatabase();
    } finally {
      await mongo.close();
    }
  });

  it("maps a BusinessFailure to FAILED_PRECONDITION and replays it without running the handler again", async () => {
    let runs = 0;
    const { client } = await participant({
      pay: {
        execute: async () => {
          runs++;
          throw new BusinessFailure("insufficient funds");
        },
        compensate: async () => {},
      },
    });
    const sagaId = `s-${randomUUID()}`;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const err = await callError(client.execute, client, executeRequest(sagaId, "pay", { attempt }));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.details).toBe("insufficient funds");
    }
    expect(runs).toBe(1);
  });

  it("maps other errors to transient statuses and lets the retry run the handler again", async () => {
    let runs = 0;
    const { client } = await participant({
      pay: {
        execute: async () => {
          runs++;
          if (runs === 1) throw new TransientFailure("bank unreachable");
          if (runs === 2) throw new Error("null pointer somewhere");
          return Buffer.from("paid");
        },
        compensate: async () => {},
      },
    });
    const sagaId = `s-${randomUUID()}`;
    const first = await callError(client.execute, client, executeRequest(sagaId, "pay"));
    expect([first.code, first.details]).toEqual([status.UNAVAILABLE, "bank unreachable"]);
    const second = await callError(client.execute, client, executeRequest(sagaId, "pay", { attempt: 2 }));
    expect([second.code, second.details]).toEqual([status.INTERNAL, "null pointer somewhere"]);
    const third = await execute(client, executeRequest(sagaId, "pay", { attempt: 3 }));
    expect(third.output.toString()).toBe("paid");
    expect(runs).toBe(3);
  });

  it("null compensation returns OK without the handler, and a later Execute is ABORTED", async () => {
    const { seen, handlers } = countingStep();
    const { client } = await participant({ reserve: handlers });
    const sagaId = `s-${randomUUID()}`;
    await compensate(client, compensateRequest(sagaId, "reserve"));
    const err = await callError(client.execute, client, executeRequest(sagaId, "reserve"));
    expect(err.code).toBe(status.ABORTED);
    expect(err.details).toMatch(/compensated before it executed/);
    expect(seen.execute).toHaveLength(0);
    expect(seen.compensate).toHaveLength(0);
  });

  it("compensates once with the recorded output and the reason; repeats are no-ops", async () => {
    const { seen, handlers } = countingStep();
    const { client } = await participant({ reserve: handlers });
    const sagaId = `s-${randomUUID()}`;
    const { output } = await execute(client, executeRequest(sagaId, "reserve"));
    // The coordinator lost the output (outcome unknown): the barrier still has it.
    await compensate(client, compensateRequest(sagaId, "reserve", { reason: "cancelled: user" }));
    await compensate(client, compensateRequest(sagaId, "reserve", { attempt: 2 }));
    expect(seen.compensate).toHaveLength(1);
    const ctx = seen.compensate[0] as CompensateContext;
    expect(ctx.executeOutput.toString()).toBe(output.toString());
    expect(ctx.reason).toBe("cancelled: user");
    expect(ctx.executeOutcome).toBe("completed");
    expect(ctx.idempotencyKey).toBe(`${sagaId}/reserve/compensate`);
  });

  it("answers Compensate during a running Execute with UNAVAILABLE", async () => {
    const slow = gatedHandler(Buffer.from("done"));
    const { client } = await participant(
      { slow: { execute: slow.handler, compensate: async () => {} } },
      { barrierOptions: { inProgressWaitMs: 20 } },
    );
    const sagaId = `s-${randomUUID()}`;
    const running = execute(client, executeRequest(sagaId, "slow"));
    await slow.entered;
    const err = await callError(client.compensate, client, compensateRequest(sagaId, "slow"));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toMatch(/in progress/);
    slow.release();
    expect((await running).output.toString()).toBe("done");
    await compensate(client, compensateRequest(sagaId, "slow", { attempt: 2 }));
  });

  it("rejects an unknown step with FAILED_PRECONDITION naming the known steps, without a tombstone", async () => {
    const { seen, handlers } = countingStep();
    const { client } = await participant({ reserve: handlers, release: handlers });
    const sagaId = `s-${randomUUID()}`;
    const onExecute = await callError(client.execute, client, executeRequest(sagaId, "teleport"));
    expect(onExecute.code).toBe(status.FAILED_PRECONDITION);
    expect(onExecute.details).toBe('unknown step "teleport": this participant implements release, reserve');
    const onCompensate = await callError(client.compensate, client, compensateRequest(sagaId, "teleport"));
    expect(onCompensate.code).toBe(status.FAILED_PRECONDITION);
    expect(seen.execute).toHaveLength(0);
  });

  it("rejects an idempotency key that is not <saga_id>/<step>/<phase> with INVALID_ARGUMENT", async () => {
    const { seen, handlers } = countingStep();
    const { client } = await participant({ reserve: handlers });
    const sagaId = `s-${randomUUID()}`;
    const err = await callError(
      client.execute,
      client,
      executeRequest(sagaId, "reserve", { idempotencyKey: `${sagaId}/other/execute` }),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain(`"${sagaId}/reserve/execute"`);
    const swapped = await callError(
      client.compensate,
      client,
      compensateRequest(sagaId, "reserve", { idempotencyKey: `${sagaId}/reserve/execute` }),
    );
    expect(swapped.code).toBe(status.INVALID_ARGUMENT);
    expect(seen.execute).toHaveLength(0);
  });

  it("aborts the handler's signal when the call's deadline passes", async () => {
    const entered = latch<boolean>();
    const aborted = latch<unknown>();
    const { client } = await participant({
      wait: {
        execute: async (ctx) => {
          entered.open(ctx.signal.aborted);
          // Only the deadline ends this handler: nothing else ever aborts its signal here.
          await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
          aborted.open(ctx.signal.reason);
          throw ctx.signal.reason;
        },
        compensate: async () => {},
      },
    });
    const err = await callError<ExecuteRequest, ExecuteResponse>(
      (req, md, _opts, cb) => client.execute(req, md, { deadline: Date.now() + 200 }, cb),
      client,
      executeRequest(`s-${randomUUID()}`, "wait"),
    );
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    expect(await entered.opened).toBe(false); // not aborted when the handler started
    // The server notices the deadline on its own timer or through the client's cancellation.
    expect(String(await aborted.opened)).toMatch(/deadline exceeded|cancelled/);
  });

  it("with the barrier off runs the handler on every duplicate", async () => {
    const { seen, handlers } = countingStep();
    const { client } = await participant({ reserve: handlers }, { barrier: false });
    const sagaId = `s-${randomUUID()}`;
    await execute(client, executeRequest(sagaId, "reserve"));
    await execute(client, executeRequest(sagaId, "reserve"));
    expect(seen.execute).toHaveLength(2);
  });

  it("serves gRPC health and shuts down gracefully, finishing in-flight calls", async () => {
    const slow = gatedHandler(Buffer.from("finished"));
    const p = await startParticipant({
      listen: "127.0.0.1:0",
      logger: silent,
      steps: { slow: { execute: slow.handler, compensate: async () => {} } },
    });
    expect(p.address).toBe(`127.0.0.1:${p.port}`);
    expect(await checkHealth(p.address)).toBe("SERVING");
    expect(await checkHealth(p.address, "saga.v1.ParticipantService")).toBe("SERVING");
    const client = new ParticipantServiceClient(p.address, credentials.createInsecure());
    clients.push(client);
    const inFlight = execute(client, executeRequest(`s-${randomUUID()}`, "slow"));
    await slow.entered;
    const stopped = p.shutdown();
    slow.release(); // the call is still in flight when the shutdown begins
    expect((await inFlight).output.toString()).toBe("finished");
    await stopped;
    await p.closed;
    const after = await callError(client.execute, client, executeRequest(`s-${randomUUID()}`, "slow"));
    expect(after.code).toBe(status.UNAVAILABLE);
  });

  it("refuses to start with an invalid step name or listen address", async () => {
    const step = countingStep().handlers;
    await expect(
      startParticipant({ listen: "127.0.0.1:0", steps: { "bad name": step }, logger: silent }),
    ).rejects.toThrow(/bad name/);
    await expect(
      startParticipant({ listen: "nowhere", steps: { ok: step }, logger: silent }),
    ).rejects.toThrow(/host:port/);
  });
});
