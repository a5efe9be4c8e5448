import { randomUUID } from "node:crypto";
import {
  type Saga,
  SagaClient,
  SagaClientError,
  SagaStatus,
  StepStatus,
} from "@saga-coordinator/participant-sdk";
import { pino } from "pino";
import { parseArgsOrExit } from "./cli.js";
import { startInventory } from "./inventory.js";
import type { Order, ShippingAddress } from "./order.js";
import { STEPS } from "./order.js";
import { startPayment } from "./payment.js";
import { describeOutcome, placeOrder } from "./place-order.js";
import { startShipping } from "./shipping.js";

// The whole example in one process: starts the inventory, payment and shipping
// participants, then places three orders through a running coordinator:
//   1. one that completes (the confirmation e-mail fails once and is retried);
//   2. one whose card is declined: the reservation is released;
//   3. one the carrier refuses at the pivot: the charge is refunded by its
//      charge id and the reservation released.
// and checks that stock and the payment ledger end up where they should.
//
//   node examples/order-fulfillment/dist/run-demo.js [--coordinator 127.0.0.1:50051]

const usage = `Usage: node dist/run-demo.js [options]
  --coordinator host:port  a running coordinator (default 127.0.0.1:50051, env SAGA_COORDINATOR)
  --listen-host host       the interface the participants listen on (default 127.0.0.1;
                           ports are picked freely)
  --advertise-host host    the host the coordinator reaches them at (default: --listen-host),
                           e.g. host.docker.internal for coordinators in Docker
  --log-level level        the participants' log level (default warn)`;

const { values } = parseArgsOrExit(
  {
    options: {
      coordinator: { type: "string", default: process.env.SAGA_COORDINATOR ?? "127.0.0.1:50051" },
      "listen-host": { type: "string", default: "127.0.0.1" },
      "advertise-host": { type: "string" },
      "log-level": { type: "string", default: process.env.LOG_LEVEL ?? "warn" },
    },
  },
  usage,
);

const logger = pino({ level: values["log-level"] });
const listen = `${values["listen-host"]}:0`;
const inventory = await startInventory({ listen, logger: logger.child({ name: "inventory" }) });
const payment = await startPayment({ listen, logger: logger.child({ name: "payment" }) });
const shipping = await startShipping({
  listen,
  logger: logger.child({ name: "shipping" }),
  flakyConfirmations: 1,
});
// Where the coordinator calls them: the saga's steps name these addresses.
const advertiseHost = values["advertise-host"] ?? values["listen-host"];
const participants = {
  inventory: `${advertiseHost}:${inventory.participant.port}`,
  payment: `${advertiseHost}:${payment.participant.port}`,
  shipping: `${advertiseHost}:${shipping.participant.port}`,
};

const berlin: ShippingAddress = {
  name: "Alice Example",
  street: "Hauptstr. 1",
  city: "Berlin",
  postalCode: "10115",
  country: "DE",
};
const run = randomUUID().slice(0, 6); // fresh order ids on every run: a saga id is an idempotency key
const orders: Array<{ title: string; order: Order; expect: SagaStatus }> = [
  {
    title: "Order 1: two books and a mug, card tok_visa, to Berlin. Expected: COMPLETED",
    order: {
      orderId: `${run}-1`,
      customerId: "alice",
      email: "alice@example.com",
      items: [
        { sku: "BOOK-SAGAS", qty: 2 },
        { sku: "MUG-PIVOT", qty: 1 },
      ],
      card: "tok_visa",
      address: berlin,
    },
    expect: SagaStatus.SAGA_STATUS_COMPLETED,
  },
  {
    title:
      "Order 2: a t-shirt, card tok_chargeDeclined. Expected: payment refuses, the reservation is released (COMPENSATED)",
    order: {
      orderId: `${run}-2`,
      customerId: "bob",
      email: "bob@example.com",
      items: [{ sku: "TEE-RETRY", qty: 1 }],
      card: "tok_chargeDeclined",
      address: { ...berlin, name: "Bob Example" },
    },
    expect: SagaStatus.SAGA_STATUS_COMPENSATED,
  },
  {
    title:
      "Order 3: a mug, card tok_mastercard, to New York. Expected: the carrier refuses at the pivot, the charge is refunded and the reservation released (COMPENSATED)",
    order: {
      orderId: `${run}-3`,
      customerId: "carol",
      email: "carol@example.com",
      items: [{ sku: "MUG-PIVOT", qty: 1 }],
      card: "tok_mastercard",
      address: {
        name: "Carol Example",
        street: "1 Main St",
        city: "New York",
        postalCode: "10001",
        country: "US",
      },
    },
    expect: SagaStatus.SAGA_STATUS_COMPENSATED,
  },
];

const stepStatus = (s: Saga, step: string) => s.steps.find((st) => st.definition?.name === step)?.status;
const problems: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) problems.push(what);
};

const client = new SagaClient({ address: values.coordinator });
const stockBefore = inventory.inventory.snapshot();
console.log(`coordinator  ${values.coordinator}`);
console.log(
  `participants inventory ${participants.inventory}, payment ${participants.payment}, shipping ${participants.shipping}`,
);
console.log(`stock        ${JSON.stringify(stockBefore)}`);
try {
  const results: Saga[] = [];
  for (const { title, order, expect } of orders) {
    console.log(`\n${title}`);
    const { saga, history } = await placeOrder(client, order, participants, 30_000);
    console.log(describeOutcome(saga, history));
    check(
      saga.status === expect,
      `order ${order.orderId}: ${SagaStatus[saga.status]}, expected ${SagaStatus[expect]}`,
    );
    results.push(saga);
  }

  const [declined, refused] = [results[1], results[2]];
  if (declined) {
    check(
      stepStatus(declined, STEPS.charge) === StepStatus.STEP_STATUS_FAILED,
      "order 2: charge-card should fail",
    );
    check(
      stepStatus(declined, STEPS.reserve) === StepStatus.STEP_STATUS_COMPENSATED,
      "order 2: reserve-items should be compensated",
    );
  }
  if (refused) {
    check(
      stepStatus(refused, STEPS.charge) === StepStatus.STEP_STATUS_COMPENSATED,
      "order 3: charge-card should be compensated",
    );
  }
  const stockAfter = inventory.inventory.snapshot();
  const expectedStock = { ...stockBefore };
  for (const { sku, qty } of orders[0]?.order.items ?? [])
    expectedStock[sku] = (expectedStock[sku] ?? 0) - qty;
  check(
    JSON.stringify(stockAfter) === JSON.stringify(expectedStock),
    `stock ${JSON.stringify(stockAfter)}, expected ${JSON.stringify(expectedStock)}`,
  );
  const charges = payment.ledger.list();
  check(
    charges.length === 2 &&
      charges.filter((c) => c.status === "captured").length === 1 &&
      charges.filter((c) => c.status === "refunded").length === 1,
    "the ledger should hold one captured charge (order 1) and one refunded charge (order 3)",
  );
  check(shipping.desk.outbox.length === 1, "exactly one confirmation e-mail should have been sent");

  console.log("\nAfterwards, in the participants:");
  console.log(`  stock     ${JSON.stringify(stockAfter)}  (only order 1's items are gone)`);
  for (const c of charges) {
    console.log(
      `  charge    ${c.chargeId} ${c.customerId.padEnd(6)} ${(c.amountCents / 100).toFixed(2)} ${c.currency} ${c.status}`,
    );
  }
  for (const m of shipping.desk.outbox)
    console.log(`  e-mail    ${m.messageId} to ${m.to}, tracking ${m.trackingNumber}`);
  if (problems.length === 0) {
    console.log("\nAll three orders ended as expected.");
  } else {
    console.log(`\nUNEXPECTED:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    process.exitCode = 1;
  }
} catch (err) {
  if (!(err instanceof SagaClientError)) throw err;
  console.error(`\nrun-demo: ${err.method} failed: ${err.codeName}: ${err.details}`);
  if (err.codeName === "UNAVAILABLE") {
    console.error(
      `Is a coordinator running at ${values.coordinator}? Start one with: node coordinator/dist/cli/main.js dev`,
    );
  }
  process.exitCode = 1;
} finally {
  client.close();
  await Promise.all(
    [inventory.participant, payment.participant, shipping.participant].map((p) => p.shutdown()),
  );
}
