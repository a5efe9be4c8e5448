// The order-fulfillment saga's vocabulary: the order a customer places, and the
// payload and output of every step, as JSON on the wire.

/** One line of an order. */
export interface OrderLine {
  sku: string;
  qty: number;
}

export interface ShippingAddress {
  name: string;
  street: string;
  city: string;
  postalCode: string;
  /** ISO 3166-1 alpha-2, e.g. "DE". */
  country: string;
}

/** What a customer orders. */
export interface Order {
  orderId: string;
  customerId: string;
  email: string;
  items: OrderLine[];
  /** A payment-method token, e.g. "tok_visa" (see payment.ts for the test tokens). */
  card: string;
  address: ShippingAddress;
}

/** The saga's steps, in order. */
export const STEPS = {
  /** inventory, compensatable: takes the items from stock; compensation puts them back. */
  reserve: "reserve-items",
  /** payment, compensatable: charges the card; compensation refunds the charge by its id. */
  charge: "charge-card",
  /** shipping, PIVOT: hands the parcel to the carrier; from here the saga only moves forward. */
  ship: "create-shipment",
  /** shipping, RETRIABLE: e-mails the customer; retried until it succeeds. */
  confirm: "send-confirmation",
} as const;

export const SAGA_TYPE = "order-fulfillment";

// --- step payloads (sent by the client) and outputs (returned by the participant) ---

export interface ReserveItemsInput {
  orderId: string;
  items: OrderLine[];
}

export interface Reservation {
  reservationId: string;
  items: Array<OrderLine & { unitPriceCents: number }>;
  totalCents: number;
  currency: string;
}

/** The amount is not in the payload: charge-card reads it from reserve-items' output. */
export interface ChargeCardInput {
  orderId: string;
  customerId: string;
  card: string;
}

export interface Charge {
  chargeId: string;
  amountCents: number;
  currency: string;
}

export interface CreateShipmentInput {
  orderId: string;
  address: ShippingAddress;
}

export interface Shipment {
  shipmentId: string;
  carrier: string;
  trackingNumber: string;
}

export interface SendConfirmationInput {
  orderId: string;
  email: string;
}

export interface Confirmation {
  messageId: string;
  to: string;
  trackingNumber: string;
}

export function formatCents(cents: number, currency: string): string {
  return `${(cents / 100).toFixed(2)} ${currency}`;
}
