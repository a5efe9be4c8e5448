import { randomUUID } from "node:crypto";
import {
  type Saga,
  SagaClient,
  SagaClientError,
  type SagaEvent,
  SagaEventType,
  SagaStatus,
  StepStatus,
  saga,
} from "@saga-coordinator/participant-sdk";
import { isEntryPoint, parseArgsOrExit, usageError } from "./cli.js";
import {
  type Charge,
  type ChargeCardInput,
  type Confirmation,
  type CreateShipmentInput,
  formatCents,
  type Order,
  type OrderLine,
  type ReserveItemsInput,
  SAGA_TYPE,
  type SendConfirmationInput,
  type Shipment,
  STEPS,
} from "./order.js";

// The client service: places an order as a saga through SagaClient and the
// saga() builder, waits for the outcome and prints it.
//
//   node dist/place-order.js --coordinator 127.0.0.1:50051 --item BOOK-SAGAS:2 --card tok_visa

/** Where the coordinator reaches each participant: "host:port", or a name from its --participant flags. */
export interface ParticipantAddresses {
  inventory: string;
  payment: string;
  shipping: string;
}

export const DEFAULT_PARTICIPANTS: ParticipantAddresses = {
  inventory: "127.0.0.1:50071",
  payment: "127.0.0.1:50072",
  shipping: "127.0.0.1:50073",
};

/**
 * The saga of one order:
 *   reserve-items -> charge-card -> create-shipment (PIVOT) -> send-confirmation (RETRIABLE)
 * Each step depends on the one before, so each receives its predecessor's
 * output (charge-card reads the total from the reservation, send-confirmation
 * the tracking number from the shipment).
 */
export function orderSaga(order: Order, participants: ParticipantAddresses) {
  const reserve: ReserveItemsInput = { orderId: order.orderId, items: order.items };
  const charge: ChargeCardInput = { orderId: order.orderId, customerId: order.customerId, card: order.card };
  const ship: CreateShipmentInput = { orderId: order.orderId, address: order.address };
  const confirm: SendConfirmationInput = { orderId: order.orderId, email: order.email };
  return (
    saga(SAGA_TYPE)
      // The saga id is the order's idempotency key: placing the same order twice starts one saga.
      .id(`order-${order.orderId}`)
      .label("customer", order.customerId)
      .step(STEPS.reserve, participants.inventory, { json: reserve, timeoutMs: 2_000 })
      .step(STEPS.charge, participants.payment, {
        json: charge,
        dependsOn: [STEPS.reserve],
        timeoutMs: 5_000,
        retry: { maxAttempts: 3, initialBackoffMs: 200 },
      })
      .pivot(STEPS.ship, participants.shipping, {
        json: ship,
        dependsOn: [STEPS.charge],
        timeoutMs: 5_000,
        retry: { maxAttempts: 5, initialBackoffMs: 200 },
      })
      .retriable(STEPS.confirm, participants.shipping, {
        json: confirm,
        dependsOn: [STEPS.ship],
        timeoutMs: 2_000,
        retry: { initialBackoffMs: 200, maxBackoffMs: 5_000 },
      })
  );
}

/** Starts the order's saga (idempotently) and waits until it is COMPLETED, COMPENSATED or FAILED. */
export async function placeOrder(
  client: SagaClient,
  order: Order,
  participants: ParticipantAddresses,
  timeoutMs = 60_000,
): Promise<{ saga: Saga; history: SagaEvent[]; created: boolean }> {
  const { saga: started, created } = await client.start(orderSaga(order, participants));
  const done = await client.waitFor(started.sagaId, { timeoutMs });
  return { saga: done, history: await client.history(started.sagaId), created };
}

const statusName = (s: SagaStatus) => SagaStatus[s]?.replace("SAGA_STATUS_", "") ?? String(s);
const stepStatusName = (s: StepStatus) => StepStatus[s]?.replace("STEP_STATUS_", "") ?? String(s);

function output<T>(s: Saga, step: string): T | undefined {
  const bytes = s.steps.find((st) => st.definition?.name === step)?.output;
  return bytes && bytes.length > 0 ? (JSON.parse(Buffer.from(bytes).toString("utf8")) as T) : undefined;
}

function describeEvent(e: SagaEvent): string | null {
  const step = e.step.padEnd(18);
  switch (e.type) {
    case SagaEventType.SAGA_EVENT_TYPE_SAGA_STARTED:
      return "   started";
    case SagaEventType.SAGA_EVENT_TYPE_STEP_SUCCEEDED:
      return ` ✔ ${step} done (attempt ${e.attempt})`;
    case SagaEventType.SAGA_EVENT_TYPE_STEP_RETRY_SCHEDULED:
      return ` … ${step} attempt ${e.attempt} failed, will retry: ${e.detail}`;
    case SagaEventType.SAGA_EVENT_TYPE_STEP_FAILED:
      return ` ✘ ${step} failed: ${e.detail}`;
    case SagaEventType.SAGA_EVENT_TYPE_STEP_COMPENSATED:
      return ` ↩ ${step} compensated`;
    case SagaEventType.SAGA_EVENT_TYPE_COMPENSATION_RETRY_SCHEDULED:
      return ` … ${step} compensation attempt ${e.attempt} failed, will retry: ${e.detail}`;
    case SagaEventType.SAGA_EVENT_TYPE_STATUS_CHANGED:
      return ` → ${statusName(e.status)}${e.detail ? ` (${e.detail})` : ""}`;
    default:
      return null;
  }
}

/** A readable account of a finished order saga: its timeline, then what it means for the customer. */
export function describeOutcome(s: Saga, history: SagaEvent[]): string {
  const lines = [`saga ${s.sagaId}: ${statusName(s.status)}`];
  for (const e of history) {
    const line = describeEvent(e);
    if (line) lines.push(line);
  }
  const charge = output<Charge>(s, STEPS.charge);
  const shipment = output<Shipment>(s, STEPS.ship);
  const confirmation = output<Confirmation>(s, STEPS.confirm);
  switch (s.status) {
    case SagaStatus.SAGA_STATUS_COMPLETED:
      lines.push(
        `   order placed: charged ${charge ? `${formatCents(charge.amountCents, charge.currency)} (${charge.chargeId})` : "?"}, ` +
          `shipped with ${shipment?.carrier} (tracking ${shipment?.trackingNumber}), confirmation ${confirmation?.messageId} sent to ${confirmation?.to}`,
      );
      break;
    case SagaStatus.SAGA_STATUS_COMPENSATED: {
      const refunded =
        s.steps.find((st) => st.definition?.name === STEPS.charge)?.status ===
        StepStatus.STEP_STATUS_COMPENSATED;
      const undone = s.steps
        .filter((st) => st.status === StepStatus.STEP_STATUS_COMPENSATED)
        .map((st) => st.definition?.name);
      lines.push(
        `   order rejected: ${s.reason || "see above"}; undone: ${undone.length > 0 ? undone.join(", ") : "nothing had taken effect"}` +
          (charge && refunded ? ` (charge ${charge.chargeId} refunded)` : ""),
      );
      break;
    }
    case SagaStatus.SAGA_STATUS_FAILED:
      lines.push(
        `   needs an operator: ${s.reason}. Steps: ${s.steps.map((st) => `${st.definition?.name}=${stepStatusName(st.status)}`).join(", ")}`,
      );
      break;
  }
  return lines.join("\n");
}

function parseItem(spec: string): OrderLine {
  const match = /^([A-Za-z0-9._-]+):(\d+)$/.exec(spec);
  if (!match?.[1] || !match[2] || Number(match[2]) < 1)
    throw new Error(`--item ${spec}: must be SKU:QTY, e.g. BOOK-SAGAS:2`);
  return { sku: match[1], qty: Number(match[2]) };
}

if (isEntryPoint(import.meta.url)) {
  const usage = `Usage: node dist/place-order.js [options]
  --coordinator host:port  a coordinator node (default 127.0.0.1:50051, env SAGA_COORDINATOR)
  --inventory ADDR         inventory participant, host:port or a coordinator --participant name (default ${DEFAULT_PARTICIPANTS.inventory})
  --payment ADDR           payment participant (default ${DEFAULT_PARTICIPANTS.payment})
  --shipping ADDR          shipping participant (default ${DEFAULT_PARTICIPANTS.shipping})
  --order-id ID            the order's id, its idempotency key (default: random)
  --customer ID            customer id (default alice)
  --email ADDR             where the confirmation goes (default alice@example.com)
  --item SKU:QTY           an item, repeatable (default BOOK-SAGAS:1); SKUs: BOOK-SAGAS, MUG-PIVOT, TEE-RETRY
  --card TOKEN             tok_visa | tok_mastercard | tok_chargeDeclined (default tok_visa)
  --country CC             delivery country (default DE; the carrier does not deliver to e.g. US)
  --timeout-ms MS          how long to wait for the outcome (default 60000)
Exit status: 0 order placed (COMPLETED), 3 order rejected (COMPENSATED), 1 otherwise.`;
  const { values } = parseArgsOrExit(
    {
      options: {
        coordinator: { type: "string", default: process.env.SAGA_COORDINATOR ?? "127.0.0.1:50051" },
        inventory: { type: "string", default: DEFAULT_PARTICIPANTS.inventory },
        payment: { type: "string", default: DEFAULT_PARTICIPANTS.payment },
        shipping: { type: "string", default: DEFAULT_PARTICIPANTS.shipping },
        "order-id": { type: "string" },
        customer: { type: "string", default: "alice" },
        email: { type: "string", default: "alice@example.com" },
        item: { type: "string", multiple: true },
        card: { type: "string", default: "tok_visa" },
        country: { type: "string", default: "DE" },
        "timeout-ms": { type: "string", default: "60000" },
      },
    },
    usage,
  );
  let items: OrderLine[];
  try {
    items = (values.item?.length ? values.item : ["BOOK-SAGAS:1"]).map(parseItem);
  } catch (err) {
    usageError((err as Error).message, usage);
  }
  const order: Order = {
    orderId: values["order-id"] ?? randomUUID().slice(0, 8),
    customerId: values.customer,
    email: values.email,
    items,
    card: values.card,
    address: {
      name: "Alice Example",
      street: "Hauptstr. 1",
      city: "Berlin",
      postalCode: "10115",
      country: values.country,
    },
  };
  const client = new SagaClient({ address: values.coordinator });
  try {
    console.log(`placing order ${order.orderId} through the coordinator at ${values.coordinator}...`);
    const {
      saga: done,
      history,
      created,
    } = await placeOrder(
      client,
      order,
      { inventory: values.inventory, payment: values.payment, shipping: values.shipping },
      Number(values["timeout-ms"]),
    );
    if (!created) console.log("(an order with this id had already been placed: showing its saga)");
    console.log(describeOutcome(done, history));
    process.exitCode =
      done.status === SagaStatus.SAGA_STATUS_COMPLETED
        ? 0
        : done.status === SagaStatus.SAGA_STATUS_COMPENSATED
          ? 3
          : 1;
  } catch (err) {
    if (!(err instanceof SagaClientError)) throw err;
    console.error(`place-order: ${err.method} failed: ${err.codeName}: ${err.details}`);
    if (err.codeName === "UNAVAILABLE") {
      console.error(
        `is a coordinator running at ${values.coordinator}? (node coordinator/dist/cli/main.js dev)`,
      );
    }
    process.exitCode = 1;
  } finally {
    client.close();
  }
}
