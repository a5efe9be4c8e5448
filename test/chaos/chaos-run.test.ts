import { execFile, spawn } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

// The bounded chaos run of CI: the same program as `npm run chaos`, smaller.
// Seed 2123's seven faults are a SIGKILL, a network partition, a SIGSTOP past
// the lease, a participant crash, a drain, a FerretDB restart and an etcd
// restart. CHAOS_SEED picks another schedule. Recovery time after SIGKILL is
// reported, not asserted, here (a loaded CI machine).

const ROOT = path.resolve(import.meta.dirname, "../..");

describe("chaos (bounded CI run)", () => {
  it("keeps every invariant through a seeded schedule of faults", { timeout: 900_000 }, async () => {
    await promisify(execFile)("npx", ["tsc", "-p", "test/chaos"], { cwd: ROOT });
    const seed = process.env.CHAOS_SEED ?? "2123";
    // biome-ignore format: one flag and its value per line
    const args = [
      "test/chaos/dist/test/chaos/main.js",
      "--sagas", "60", "--faults", "7", "--seed", seed, "--partitions", "64",
      "--finish-timeout-ms", "180000", "--no-assert-recovery",
    ];
    // Streamed as it runs, so a CI log shows how far it got.
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (d: Buffer) => {
      output += d;
      process.stdout.write(d);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(output, output).toMatch(/^\d+ passed, 0 failed$/m);
    expect(code, output).toBe(0);
  });
});
