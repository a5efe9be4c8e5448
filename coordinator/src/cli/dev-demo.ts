import { credentials, Metadata } from "@grpc/grpc-js";
import { BusinessFailure, MemoryBarrierStore, startParticipant } from "@saga-coordinator/participant-sdk";
import {
  CoordinatorServiceClient,
  SagaEventType,
  SagaStatus,
  type StartSagaRequest,
  type WatchSagaResponse,
} from "@saga-coordinator/proto";
import { pino } from "pino";

// `saga-coordinator dev --demo`: three example participants in this process,
// two sagas through the coordinator, and a readable account of what happened.

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const parse = (bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).toString("utf8") || "null");
const out = (line = "") => process.stdout.write(`${line}\n`);

async function startDemoParticipants() {
  const logger = pino({ level: "warn" });
  const stock = new Map<string, number>([["book", 10]]);
  const inventory = await startParticipant({
    listen: "127.0.0.1:0",
    logger,
    // A demo in one process: nothing to survive a restart, so memory is the right place.
    barrier: new MemoryBarrierStore(),
    steps: {
      "reserve-stock": {
        execute: async (ctx) => {
          const { item, qty } = parse(ctx.payload);
          stock.set(item, (stock.get(item) ?? 0) - qty);
          return json({ reservation: `R-${ctx.sagaId}`, left: stock.get(item) });
        },
        compensate: async (ctx) => {
          const { item, qty } = parse(ctx.payload);
          stock.set(item, (stock.get(item) ?? 0) + qty);
        },
      },
    },
  });
  const payment = await startParticipant({
    listen: "127.0.0.1:0",
    logger,
    barrier: new MemoryBarrierStore(),
    steps: {
      "charge-card": {
        execute: async (ctx) => json({ chargeId: `ch_${ctx.sagaId}`, amount: parse(ctx.payload).amount }),
        compensate: async () => {},
      },
    },
  });
  const shipping = await startParticipant({
    listen: "127.0.0.1:0",
    logger,
    barrier: new MemoryBarrierStore(),
    steps: {
      "ship-order": {
        execute: async (ctx) => {
          const { address } = parse(ctx.payload);
          if (!address) throw new BusinessFailure("no delivery address");
          return json({ tracking: `TRK-${ctx.sagaId}` });
        },
        compensate: async () => {},
      },
    },
  });
  return { inventory, payment, shipping };
}

function order(
  sagaId: string,
  addresses: { inventory: string; payment: string; shipping: string },
  address: string,
): StartSagaRequest {
  const step = (name: string, participant: string, payload: unknown) => ({
    name,
    participant,
    payload: json(payload),
    contentType: "application/json",
    dependsOn: [],
    kind: 0,
  });
  return {
    sagaId,
    sagaType: "order-checkout",
    labels: { demo: "true" },
    steps: [
      step("reserve-stock", addresses.inventory, { item: "book", qty: 1 }),
      step("charge-card", addresses.payment, { amount: 42 }),
      step("ship-order", addresses.shipping, { address }),
    ],
  };
}

function describe(e: NonNullable<WatchSagaResponse["event"]>): string | null {
  switch (e.type) {
    case SagaEventType.SAGA_EVENT_TYPE_STEP_SUCCEEDED:
      return `  ✔ ${e.step.padEnd(14)} executed`;
    case SagaEventType.SAGA_EVENT_TYPE_STEP_FAILED:
      return `  ✘ ${e.step.padEnd(14)} failed: ${e.detail}`;
    case SagaEventType.SAGA_EVENT_TYPE_STEP_RETRY_SCHEDULED:
      return `  … ${e.step.padEnd(14)} attempt ${e.attempt} failed (${e.detail}), retrying`;
    case SagaEventType.SAGA_EVENT_TYPE_STEP_COMPENSATED:
      return `  ↩ ${e.step.padEnd(14)} compensated (undone)`;
    case SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED:
      return `  => ${SagaStatus[e.status].replace("SAGA_STATUS_", "")}${e.detail ? ` (${e.detail})` : ""}`;
    default:
      return null;
  }
}

async function runAndWatch(client: CoordinatorServiceClient, title: string, request: StartSagaRequest) {
  out(`\n${title}`);
  await new Promise<void>((resolve, reject) =>
    client.startSaga(request, new Metadata(), { deadline: Date.now() + 5000 }, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  const stream = client.watchSaga({ sagaId: request.sagaId, afterSequence: 0 });
  for await (const message of stream as AsyncIterable<WatchSagaResponse>) {
    const line = message.event ? describe(message.event) : null;
    if (line) out(line);
  }
}

export async function runDevDemo(coordinatorAddress: string): Promise<void> {
  const participants = await startDemoParticipants();
  const addresses = {
    inventory: participants.inventory.address,
    payment: participants.payment.address,
    shipping: participants.shipping.address,
  };
  const client = new CoordinatorServiceClient(coordinatorAddress, credentials.createInsecure());
  const run = Date.now().toString(36);
  out(`\nSaga coordinator (dev mode: one node, in-memory store) on ${coordinatorAddress}`);
  out(
    `Example participants: inventory ${addresses.inventory}, payment ${addresses.payment}, shipping ${addresses.shipping}`,
  );
  await runAndWatch(
    client,
    `Saga 1 order-${run}-ok: reserve-stock -> charge-card -> ship-order (all succeed)`,
    order(`order-${run}-ok`, addresses, "1 Main St"),
  );
  await runAndWatch(
    client,
    `Saga 2 order-${run}-fail: ship-order refuses (no address), so charge-card and reserve-stock are undone in reverse order`,
    order(`order-${run}-fail`, addresses, ""),
  );
  client.close();
  // Server reflection serves protoc's descriptors, so grpcurl needs no .proto files.
  const g = "grpcurl -plaintext";
  out(`
The coordinator keeps running. Try it with grpcurl (or with SagaClient from @saga-coordinator/participant-sdk):
  grpcurl -plaintext ${coordinatorAddress} list
  ${g} -d '{"saga_id":"order-${run}-fail","include_history":true}' ${coordinatorAddress} saga.v1.CoordinatorService/GetSaga
  ${g} -d '{"labels":{"demo":"true"}}' ${coordinatorAddress} saga.v1.CoordinatorService/ListSagas
  ${g} -d '{"saga_id":"my-saga","saga_type":"demo","steps":[{"name":"reserve-stock","participant":"${addresses.inventory}","payload":"${json({ item: "book", qty: 1 }).toString("base64")}"}]}' ${coordinatorAddress} saga.v1.CoordinatorService/StartSaga
Press Ctrl+C to stop.`);
}
