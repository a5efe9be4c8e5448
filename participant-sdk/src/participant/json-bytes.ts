import { BusinessFailure } from "./business-failure.js";

/** Encodes a value as UTF-8 JSON bytes: `return jsonBytes({ reservationId })`. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

/**
 * Parses UTF-8 JSON bytes: `const order = parseJson<Order>(ctx.payload)`.
 * Throws BusinessFailure on malformed JSON: the same payload arrives on every
 * retry, so retrying could never help. Empty bytes parse as undefined.
 */
export function parseJson<T = unknown>(bytes: Uint8Array): T {
  if (bytes.length === 0) return undefined as T;
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")) as T;
  } catch (err) {
    throw new BusinessFailure(`payload is not valid JSON: ${(err as Error).message}`);
  }
}
