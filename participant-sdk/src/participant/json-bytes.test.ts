import { describe, expect, it } from "vitest";
import { BusinessFailure } from "./business-failure.js";
import { jsonBytes, parseJson } from "./json-bytes.js";

describe("JSON helpers", () => {
  it("round-trips values through UTF-8 bytes", () => {
    const bytes = jsonBytes({ id: "r-1", note: "café" });
    expect(bytes.toString("utf8")).toBe('{"id":"r-1","note":"café"}');
    expect(parseJson<{ note: string }>(bytes).note).toBe("café");
    expect(parseJson(new Uint8Array(bytes))).toEqual({ id: "r-1", note: "café" });
  });

  it("parses empty bytes as undefined and rejects malformed JSON as a business failure", () => {
    expect(parseJson(Buffer.alloc(0))).toBeUndefined();
    expect(() => parseJson(Buffer.from("{nope"))).toThrow(BusinessFailure);
  });
});
