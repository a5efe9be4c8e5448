import { randomUUID } from "node:crypto";
import {
  BusinessFailure,
  jsonBytes,
  type Participant,
  parseJson,
  type StepHandlers,
  startParticipant,
} from "@saga-coordinator/participant-sdk";
import { type Logger, pino } from "pino";
import { isEntryPoint, parseArgsOrExit } from "./cli.js";
import { type OrderLine, type Reservation, type ReserveItemsInput, STEPS } from "./order.js";

// The inventory participant: `reserve-items` takes an order's items out of
// stock and prices them; its compensation puts them back.
//
//   node dist/inventory.js --listen 127.0.0.1:50071

export const CURRENCY = "EUR";

/** What the shop sells: price and opening stock. */
export const CATALOG: Record<string, { title: string; priceCents: number; stock: number }> = {
  "BOOK-SAGAS": { title: "Sagas (Garcia-Molina & Salem, 1987), reprint", priceCents: 2450, stock: 10 },
  "MUG-PIVOT": { title: "Mug: point of no return", priceCents: 1290, stock: 5 },
  "TEE-RETRY": { title: "T-shirt: retry with backoff", priceCents: 1990, stock: 3 },
};

/** Stock levels, in memory. A real service keeps them in its database. */
export class Inventory {
  private readonly stock = new Map<string, number>();
  /** reservationId -> items, and sagaId -> reservationId, to undo a reservation. */
  private readonly reservations = new Map<string, OrderLine[]>();
  private readonly bySaga = new Map<string, string>();

  constructor() {
    for (const [sku, item] of Object.entries(CATALOG)) this.stock.set(sku, item.stock);
  }

  available(sku: string): number {
    return this.stock.get(sku) ?? 0;
  }

  /** All of the items or none (a BusinessFailure, nothing taken). */
  reserve(sagaId: string, items: OrderLine[]): Reservation {
    const priced = items.map((line) => {
      const item = CATALOG[line.sku];
      if (!item) throw new BusinessFailure(`unknown item ${line.sku}`);
      if (this.available(line.sku) < line.qty) {
        throw new BusinessFailure(
          `out of stock: ${line.sku} has ${this.available(line.sku)}, order needs ${line.qty}`,
        );
      }
      return { ...line, unitPriceCents: item.priceCents };
    });
    for (const line of items) this.stock.set(line.sku, this.available(line.sku) - line.qty);
    const reservationId = `res_${randomUUID().slice(0, 8)}`;
    this.reservations.set(reservationId, items);
    this.bySaga.set(sagaId, reservationId);
    const totalCents = priced.reduce((sum, line) => sum + line.qty * line.unitPriceCents, 0);
    return { reservationId, items: priced, totalCents, currency: CURRENCY };
  }

  /** Puts a reservation's items back; false if there is nothing (left) to release. */
  release(reservationId: string): boolean {
    const items = this.reservations.get(reservationId);
    if (!items) return false;
    for (const line of items) this.stock.set(line.sku, this.available(line.sku) + line.qty);
    this.reservations.delete(reservationId);
    return true;
  }

  reservationOf(sagaId: string): string | undefined {
    return this.bySaga.get(sagaId);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.stock);
  }
}

function reserveInput(bytes: Uint8Array): ReserveItemsInput {
  const input = parseJson<Partial<ReserveItemsInput> | null>(bytes);
  const items = input?.items;
  if (
    !Array.isArray(items) ||
    items.length === 0 ||
    !items.every((l) => typeof l?.sku === "string" && Number.isInteger(l.qty) && l.qty > 0)
  ) {
    throw new BusinessFailure(
      'payload must be {"orderId": "...", "items": [{"sku": "...", "qty": n>0}, ...]}',
    );
  }
  return input as ReserveItemsInput;
}

export function inventorySteps(inventory: Inventory): Record<string, StepHandlers> {
  return {
    [STEPS.reserve]: {
      // The barrier runs this at most once per saga, however often the coordinator retries.
      execute: async (ctx) => {
        const { orderId, items } = reserveInput(ctx.payload);
        const reservation = inventory.reserve(ctx.sagaId, items);
        ctx.logger.info({ orderId, reservation, stock: inventory.snapshot() }, "items reserved");
        return jsonBytes(reservation);
      },
      // Only runs if the Execute ran here; undoes it by the reservation id it returned.
      compensate: async (ctx) => {
        const recorded = ctx.executeOutput.length > 0 ? parseJson<Reservation>(ctx.executeOutput) : null;
        const reservationId = recorded?.reservationId ?? inventory.reservationOf(ctx.sagaId);
        const released = reservationId !== undefined && inventory.release(reservationId);
        ctx.logger.info(
          { reservationId, released, reason: ctx.reason, stock: inventory.snapshot() },
          released ? "reservation released" : "nothing to release",
        );
      },
    },
  };
}

export async function startInventory(options: {
  listen: string;
  logger?: Logger;
  /** Shut down gracefully on SIGTERM/SIGINT (standalone use). */
  handleSignals?: boolean;
}): Promise<{ participant: Participant; inventory: Inventory }> {
  const inventory = new Inventory();
  const participant = await startParticipant({
    listen: options.listen,
    steps: inventorySteps(inventory),
    logger: options.logger,
    handleSignals: options.handleSignals ?? false,
  });
  return { participant, inventory };
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgsOrExit(
    {
      options: {
        listen: { type: "string", default: process.env.PARTICIPANT_LISTEN ?? "127.0.0.1:50071" },
        "log-level": { type: "string", default: process.env.LOG_LEVEL ?? "info" },
      },
    },
    "Usage: node dist/inventory.js [--listen host:port (default 127.0.0.1:50071)] [--log-level info]",
  );
  const logger = pino({ name: "inventory", level: values["log-level"] });
  const { participant, inventory } = await startInventory({
    listen: values.listen,
    logger,
    handleSignals: true,
  });
  logger.info({ address: participant.address, stock: inventory.snapshot() }, "inventory participant ready");
  await participant.closed;
}
