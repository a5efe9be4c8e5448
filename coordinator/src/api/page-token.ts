import { createHash } from "node:crypto";
import { invalidArgument } from "./grpc-errors.js";

/** The keyset position after the last saga of a page, bound to the filters it was issued for. */
export interface PagePosition {
  createdAt: number;
  sagaId: string;
}

export function filterDigest(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("hex").slice(0, 16);
}

export function encodePageToken(position: PagePosition, digest: string): string {
  return Buffer.from(JSON.stringify({ c: position.createdAt, s: position.sagaId, f: digest })).toString(
    "base64url",
  );
}

export function decodePageToken(token: string, digest: string): PagePosition {
  let parsed: { c?: unknown; s?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("page_token: not a token this coordinator issued; pass next_page_token unchanged");
  }
  if (typeof parsed.c !== "number" || typeof parsed.s !== "string") {
    throw invalidArgument("page_token: not a token this coordinator issued; pass next_page_token unchanged");
  }
  if (parsed.f !== digest) {
    throw invalidArgument(
      "page_token: was issued for different filters; use the same filters as the first page",
    );
  }
  return { createdAt: parsed.c, sagaId: parsed.s };
}
