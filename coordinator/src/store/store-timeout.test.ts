import { describe, expect, it } from "vitest";
import { StoreTimeoutError, withStoreTimeout } from "./store-timeout.js";

describe("withStoreTimeout", () => {
  it("passes a settled operation's value and error through", async () => {
    await expect(withStoreTimeout(Promise.resolve(7), 1_000, "get")).resolves.toBe(7);
    await expect(withStoreTimeout(Promise.reject(new Error("refused")), 1_000, "get")).rejects.toThrow(
      "refused",
    );
  });

  it("gives up on an operation that never settles, naming it", async () => {
    const never = new Promise<number>(() => {});
    const result = withStoreTimeout(never, 5, "saga writes");
    await expect(result).rejects.toBeInstanceOf(StoreTimeoutError);
    await expect(result).rejects.toThrow("saga writes: no answer from the store within 5 ms");
  });
});
