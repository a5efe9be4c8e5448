import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../support/coordinator-harness.js";

// The order-fulfillment example runs as documented against a dev coordinator.
// run-demo checks stock, charges, refunds and e-mails itself and exits non-zero on a mismatch.

const DEMO = path.resolve(import.meta.dirname, "../../examples/order-fulfillment/dist/run-demo.js");

describe("examples/order-fulfillment", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it("completes one order, compensates a payment failure and a refused shipment", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [DEMO, "--coordinator", h.node.address], {
      timeout: 60_000,
    });
    expect(stdout).toContain("COMPLETED");
    expect(stdout).toContain("COMPENSATED");
  });
});
