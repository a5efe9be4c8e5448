import { randomUUID } from "node:crypto";
import {
  Barrier,
  type BarrierContent,
  type BarrierMatch,
  MemoryBarrierStore,
} from "@saga-coordinator/participant-sdk";
import { describe, expect, it } from "vitest";
import { barrierContract } from "../support/barrier-contract.js";

// A fresh store per case, as one participant process would have.
barrierContract("MemoryBarrierStore", () => new MemoryBarrierStore());

/** A store whose next `failures` writes of a final state throw, like a database blip. */
class FlakyStore extends MemoryBarrierStore {
  constructor(private failures: number) {
    super();
  }

  override async update(key: string, expected: BarrierMatch, content: BarrierContent): Promise<boolean> {
    if (content.state !== expected.state && this.failures > 0) {
      this.failures--;
      throw new Error("connection reset");
    }
    return super.update(key, expected, content);
  }
}

describe("barrier final write", () => {
  it("is retried after a store error, so the applied effect is recorded and never rerun", async () => {
    const barrier = new Barrier(new FlakyStore(2));
    const key = `saga-${randomUUID()}/step`;
    let runs = 0;
    const handler = async () => {
      runs++;
      return Buffer.from("applied");
    };
    expect(Buffer.from(await barrier.execute(key, handler)).toString()).toBe("applied");
    expect((await barrier.store.get(key))?.state).toBe("executed");
    expect(Buffer.from(await barrier.execute(key, handler)).toString()).toBe("applied");
    expect(runs).toBe(1);
  });
});
