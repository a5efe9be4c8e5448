import { randomInt, randomUUID } from "node:crypto";
import {
  BusinessFailure,
  jsonBytes,
  type Participant,
  parseJson,
  type StepHandlers,
  startParticipant,
  TransientFailure,
} from "@saga-coordinator/participant-sdk";
import { type Logger, pino } from "pino";
import { isEntryPoint, parseArgsOrExit, usageError } from "./cli.js";
import {
  type Confirmation,
  type CreateShipmentInput,
  type SendConfirmationInput,
  type Shipment,
  STEPS,
} from "./order.js";

// The shipping participant, with two steps:
// - `create-shipment`, the saga's PIVOT: once the carrier has the parcel there
//   is no undo, so the coordinator never compensates it; a refusal here (we do
//   not ship to that country) still compensates payment and inventory.
// - `send-confirmation`, RETRIABLE (after the pivot): e-mails the tracking
//   number; the coordinator retries it until it succeeds. With
//   --flaky-confirmations N the first N attempts per order fail transiently,
//   to show the retries.
//
//   node dist/shipping.js --listen 127.0.0.1:50073 [--flaky-confirmations 1]

/** Countries the carrier delivers to. */
export const SHIPS_TO = new Set(["AT", "BE", "CH", "DE", "DK", "ES", "FR", "IT", "NL", "PL", "SE"]);

interface ShipmentRecord extends Shipment {
  sagaId: string;
  orderId: string;
  status: "handed-to-carrier" | "cancelled";
}

/** Shipments and sent e-mails, in memory. */
export class ShippingDesk {
  readonly shipments = new Map<string, ShipmentRecord>();
  readonly outbox: Confirmation[] = [];
  private readonly confirmationAttempts = new Map<string, number>();

  /** @param flakyConfirmations how many first attempts per saga of send-confirmation fail transiently. */
  constructor(private readonly flakyConfirmations = 0) {}

  ship(sagaId: string, input: CreateShipmentInput): Shipment {
    const country = input.address.country.toUpperCase();
    if (!SHIPS_TO.has(country)) throw new BusinessFailure(`we do not ship to ${country}`);
    const shipmentId = `shp_${randomUUID().slice(0, 8)}`;
    const shipment = {
      shipmentId,
      carrier: "DHL",
      trackingNumber: `JD0146${randomInt(1e9).toString().padStart(9, "0")}`,
    };
    this.shipments.set(shipmentId, {
      ...shipment,
      sagaId,
      orderId: input.orderId,
      status: "handed-to-carrier",
    });
    return shipment;
  }

  /** Sends the e-mail; the first `flakyConfirmations` attempts per saga fail as if the mail relay were down. */
  confirm(sagaId: string, input: SendConfirmationInput, shipment: Shipment): Confirmation {
    const attempt = (this.confirmationAttempts.get(sagaId) ?? 0) + 1;
    this.confirmationAttempts.set(sagaId, attempt);
    if (attempt <= this.flakyConfirmations) {
      throw new TransientFailure(`mail relay unavailable (simulated, attempt ${attempt})`);
    }
    const message = {
      messageId: `msg_${randomUUID().slice(0, 8)}`,
      to: input.email,
      trackingNumber: shipment.trackingNumber,
    };
    this.outbox.push(message);
    return message;
  }
}

function shipmentInput(bytes: Uint8Array): CreateShipmentInput {
  const input = parseJson<Partial<CreateShipmentInput> | null>(bytes);
  const a = input?.address;
  if (
    !a ||
    [a.name, a.street, a.city, a.postalCode, a.country].some((f) => typeof f !== "string" || f === "")
  ) {
    throw new BusinessFailure("payload needs an address with name, street, city, postalCode and country");
  }
  return input as CreateShipmentInput;
}

export function shippingSteps(desk: ShippingDesk): Record<string, StepHandlers> {
  return {
    [STEPS.ship]: {
      execute: async (ctx) => {
        const input = shipmentInput(ctx.payload);
        const shipment = desk.ship(ctx.sagaId, input);
        ctx.logger.info({ orderId: input.orderId, ...shipment }, "parcel handed to the carrier");
        return jsonBytes(shipment);
      },
      // A pivot is never compensated by the coordinator. Should a Compensate
      // arrive anyway (e.g. a misconfigured saga), cancel what we can.
      compensate: async (ctx) => {
        const shipment = ctx.executeOutput.length > 0 ? parseJson<Shipment>(ctx.executeOutput) : null;
        const record = shipment ? desk.shipments.get(shipment.shipmentId) : undefined;
        if (record) record.status = "cancelled";
        ctx.logger.warn({ shipmentId: shipment?.shipmentId, reason: ctx.reason }, "shipment cancelled");
      },
    },
    [STEPS.confirm]: {
      execute: async (ctx) => {
        const input = parseJson<SendConfirmationInput>(ctx.payload);
        const shipmentBytes = ctx.dependencyOutputs[STEPS.ship];
        if (!shipmentBytes || shipmentBytes.length === 0) {
          throw new BusinessFailure(
            `${STEPS.confirm} must depend on ${STEPS.ship} (it mails the tracking number)`,
          );
        }
        const message = desk.confirm(ctx.sagaId, input, parseJson<Shipment>(shipmentBytes));
        ctx.logger.info({ orderId: input.orderId, ...message }, "confirmation sent");
        return jsonBytes(message);
      },
      // A retriable step comes after the pivot: the coordinator never compensates it.
      compensate: async () => {},
    },
  };
}

export async function startShipping(options: {
  listen: string;
  logger?: Logger;
  flakyConfirmations?: number;
  /** Shut down gracefully on SIGTERM/SIGINT (standalone use). */
  handleSignals?: boolean;
}): Promise<{ participant: Participant; desk: ShippingDesk }> {
  const desk = new ShippingDesk(options.flakyConfirmations ?? 0);
  const participant = await startParticipant({
    listen: options.listen,
    steps: shippingSteps(desk),
    logger: options.logger,
    handleSignals: options.handleSignals ?? false,
  });
  return { participant, desk };
}

if (isEntryPoint(import.meta.url)) {
  const usage =
    "Usage: node dist/shipping.js [--listen host:port (default 127.0.0.1:50073)] [--log-level info]\n" +
    "                             [--flaky-confirmations N (first N attempts per order fail; default 0)]";
  const { values } = parseArgsOrExit(
    {
      options: {
        listen: { type: "string", default: process.env.PARTICIPANT_LISTEN ?? "127.0.0.1:50073" },
        "log-level": { type: "string", default: process.env.LOG_LEVEL ?? "info" },
        "flaky-confirmations": { type: "string", default: "0" },
      },
    },
    usage,
  );
  const flakyConfirmations = Number(values["flaky-confirmations"]);
  if (!Number.isInteger(flakyConfirmations) || flakyConfirmations < 0) {
    usageError("--flaky-confirmations must be an integer >= 0", usage);
  }
  const logger = pino({ name: "shipping", level: values["log-level"] });
  const { participant } = await startShipping({
    listen: values.listen,
    logger,
    flakyConfirmations,
    handleSignals: true,
  });
  logger.info({ address: participant.address }, "shipping participant ready");
  await participant.closed;
}
