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
import { type Charge, type ChargeCardInput, formatCents, type Reservation, STEPS } from "./order.js";

// The payment participant: `charge-card` charges the order's total (which it
// reads from reserve-items' output: the step depends on it); its compensation
// refunds that charge by the charge id it returned, which the coordinator
// stored and sends back with the Compensate call.
//
//   node dist/payment.js --listen 127.0.0.1:50072
//
// Test cards (like a payment provider's sandbox): "tok_visa" and
// "tok_mastercard" are charged; "tok_chargeDeclined" is declined (a business
// "no": the saga compensates what ran before); anything else is invalid.

export const TEST_CARDS = {
  ok: ["tok_visa", "tok_mastercard"],
  declined: "tok_chargeDeclined",
} as const;

interface ChargeRecord extends Charge {
  sagaId: string;
  customerId: string;
  status: "captured" | "refunded";
}

/** A payment provider's ledger, in memory. */
export class PaymentLedger {
  private readonly charges = new Map<string, ChargeRecord>();

  charge(sagaId: string, input: ChargeCardInput, amountCents: number, currency: string): Charge {
    if (input.card === TEST_CARDS.declined) throw new BusinessFailure(`card declined (${input.card})`);
    if (!(TEST_CARDS.ok as readonly string[]).includes(input.card)) {
      throw new BusinessFailure(`invalid card token ${JSON.stringify(input.card)}`);
    }
    const charge = { chargeId: `ch_${randomUUID().replaceAll("-", "").slice(0, 16)}`, amountCents, currency };
    this.charges.set(charge.chargeId, {
      ...charge,
      sagaId,
      customerId: input.customerId,
      status: "captured",
    });
    return charge;
  }

  /** Refunds a captured charge; false when it is unknown or already refunded. */
  refund(chargeId: string): boolean {
    const record = this.charges.get(chargeId);
    if (record?.status !== "captured") return false;
    record.status = "refunded";
    return true;
  }

  /** The charge a saga made, for a compensation that arrives without the execute output. */
  chargeOf(sagaId: string): string | undefined {
    for (const record of this.charges.values()) if (record.sagaId === sagaId) return record.chargeId;
    return undefined;
  }

  list(): ChargeRecord[] {
    return [...this.charges.values()].map((r) => ({ ...r }));
  }
}

function chargeInput(bytes: Uint8Array): ChargeCardInput {
  const input = parseJson<Partial<ChargeCardInput> | null>(bytes);
  if (typeof input?.customerId !== "string" || typeof input.card !== "string") {
    throw new BusinessFailure('payload must be {"orderId": "...", "customerId": "...", "card": "tok_..."}');
  }
  return input as ChargeCardInput;
}

export function paymentSteps(ledger: PaymentLedger): Record<string, StepHandlers> {
  return {
    [STEPS.charge]: {
      execute: async (ctx) => {
        const input = chargeInput(ctx.payload);
        // The amount comes from the reservation: the coordinator passes the
        // outputs of the steps this one depends on.
        const reservationBytes = ctx.dependencyOutputs[STEPS.reserve];
        if (!reservationBytes || reservationBytes.length === 0) {
          throw new BusinessFailure(`${STEPS.charge} must depend on ${STEPS.reserve} (it reads the total)`);
        }
        const { totalCents, currency } = parseJson<Reservation>(reservationBytes);
        const charge = ledger.charge(ctx.sagaId, input, totalCents, currency);
        ctx.logger.info(
          { orderId: input.orderId, chargeId: charge.chargeId, amount: formatCents(totalCents, currency) },
          "card charged",
        );
        return jsonBytes(charge);
      },
      // Refund by the charge id from Execute's output (the payload alone could not say which charge).
      compensate: async (ctx) => {
        const charge = ctx.executeOutput.length > 0 ? parseJson<Charge>(ctx.executeOutput) : null;
        const chargeId = charge?.chargeId ?? ledger.chargeOf(ctx.sagaId);
        const refunded = chargeId !== undefined && ledger.refund(chargeId);
        ctx.logger.info(
          { chargeId, refunded, reason: ctx.reason },
          refunded ? "charge refunded" : "nothing to refund",
        );
      },
    },
  };
}

export async function startPayment(options: {
  listen: string;
  logger?: Logger;
  /** Shut down gracefully on SIGTERM/SIGINT (standalone use). */
  handleSignals?: boolean;
}): Promise<{ participant: Participant; ledger: PaymentLedger }> {
  const ledger = new PaymentLedger();
  const participant = await startParticipant({
    listen: options.listen,
    steps: paymentSteps(ledger),
    logger: options.logger,
    handleSignals: options.handleSignals ?? false,
  });
  return { participant, ledger };
}

if (isEntryPoint(import.meta.url)) {
  const { values } = parseArgsOrExit(
    {
      options: {
        listen: { type: "string", default: process.env.PARTICIPANT_LISTEN ?? "127.0.0.1:50072" },
        "log-level": { type: "string", default: process.env.LOG_LEVEL ?? "info" },
      },
    },
    "Usage: node dist/payment.js [--listen host:port (default 127.0.0.1:50072)] [--log-level info]",
  );
  const logger = pino({ name: "payment", level: values["log-level"] });
  const { participant } = await startPayment({ listen: values.listen, logger, handleSignals: true });
  logger.info({ address: participant.address }, "payment participant ready");
  await participant.closed;
}
