import { randomUUID } from "node:crypto";
import { type ChannelCredentials, credentials } from "@grpc/grpc-js";
import {
  AdminServiceClient,
  CoordinatorServiceClient,
  type Saga,
  SagaStatus,
  type StartSagaRequest,
  type StepDefinition,
  StepKind,
} from "@saga-coordinator/proto";
import { pino } from "pino";
import { parseCoordinatorConfig } from "../../coordinator/src/config/coordinator-config.js";
import { type CoordinatorNode, startCoordinatorNode } from "../../coordinator/src/node/coordinator-node.js";
import { call } from "./grpc-call.js";

export interface Harness {
  node: CoordinatorNode;
  client: CoordinatorServiceClient;
  admin: AdminServiceClient;
  start(req: Partial<StartSagaRequest> & { steps: StepDefinition[] }): Promise<Saga>;
  get(sagaId: string): Promise<Saga>;
  /** Polls until the saga reaches `status` (or any terminal status when omitted). */
  waitFor(sagaId: string, status?: SagaStatus, timeoutMs?: number): Promise<Saga>;
  close(): Promise<void>;
}

const TERMINAL = new Set([
  SagaStatus.SAGA_STATUS_COMPLETED,
  SagaStatus.SAGA_STATUS_COMPENSATED,
  SagaStatus.SAGA_STATUS_FAILED,
]);

export function step(name: string, participant: string, over: Partial<StepDefinition> = {}): StepDefinition {
  return {
    name,
    participant,
    payload: Buffer.from(JSON.stringify({ step: name })),
    contentType: "application/json",
    dependsOn: [],
    kind: StepKind.STEP_KIND_COMPENSATABLE,
    ...over,
  };
}

/** Fast retries for tests: attempts come within milliseconds. */
export const fastRetry = (maxAttempts: number) => ({
  maxAttempts,
  initialBackoff: { seconds: 0, nanos: 20_000_000 },
  maxBackoff: { seconds: 0, nanos: 200_000_000 },
  multiplier: 2,
  jitter: 0,
});

/** An in-process coordinator node on a free port, with a MongoDB database of its own or the memory store. */
export async function startHarness(
  opts: { mongoUri?: string; extra?: Record<string, unknown>; clientCredentials?: ChannelCredentials } = {},
): Promise<Harness> {
  const config = parseCoordinatorConfig({
    mode: opts.mongoUri ? "start" : "dev",
    listen: "127.0.0.1:0",
    "log-level": "silent",
    participant: [],
    "max-steps": 100,
    "max-payload-bytes": 1024 * 1024,
    "max-labels": 16,
    "poll-interval-ms": 50,
    "lost-call-grace-ms": 1000,
    partitions: 16,
    "mongodb-uri": opts.mongoUri,
    "mongodb-database": `it_${randomUUID().slice(0, 8)}`,
    "etcd-prefix": "/t",
    "node-id": "test-node",
    "lease-ttl-seconds": 5,
    "drain-timeout-ms": 2000,
    demo: false,
    // The tests' participants listen on free ports, so steps name them by host:port.
    "allow-direct-participant-addresses": true,
    ...opts.extra,
  });
  const node = await startCoordinatorNode(config, pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }));
  const creds = opts.clientCredentials ?? credentials.createInsecure();
  const client = new CoordinatorServiceClient(node.address, creds);
  const admin = new AdminServiceClient(node.address, creds);
  const get = async (sagaId: string) =>
    (await call(client.getSaga, client, { sagaId, includeHistory: false })).saga as Saga;
  return {
    node,
    client,
    admin,
    get,
    async start(req) {
      const res = await call(client.startSaga, client, {
        sagaId: req.sagaId ?? `s-${randomUUID()}`,
        sagaType: req.sagaType ?? "test",
        steps: req.steps,
        labels: req.labels ?? {},
        deadline: req.deadline,
      });
      return res.saga as Saga;
    },
    async waitFor(sagaId, status, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const saga = await get(sagaId);
        if (status === undefined ? TERMINAL.has(saga.status) : saga.status === status) return saga;
        if (Date.now() > until) {
          throw new Error(
            `saga ${sagaId} is ${SagaStatus[saga.status]}, expected ${status === undefined ? "terminal" : SagaStatus[status]}`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      client.close();
      admin.close();
      await node.stop();
    },
  };
}
