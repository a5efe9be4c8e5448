import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

// The bounded chaos run of CI: the same program as `npm run chaos`, smaller.
// Seed 2123's seven faults are a SIGKILL, a network partition, a SIGSTOP past
// the lease, a participant crash, a drain, a FerretDB restart and an etcd
// restart. CHAOS_SEED picks another schedule. Recovery time after SIGKILL is
// reported, not asserted, here (a loaded CI machine).

const ROOT = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

describe("chaos (bounded CI run)", () => {
  it("keeps every invariant through a seeded schedule of faults", { timeout: 600_000 }, async () => {
    await run("npx", ["tsc", "-p", "test/chaos"], { cwd: ROOT });
    const seed = process.env.CHAOS_SEED ?? "2123";
    // biome-ignore format: one flag and its value per line
    const args = [
      "test/chaos/dist/test/chaos/main.js",
      "--sagas", "60", "--faults", "7", "--seed", seed, "--partitions", "64",
      "--finish-timeout-ms", "180000", "--no-assert-recovery",
    ];
    const result = await run(process.execPath, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }).catch(
      (err: { stdout?: string; stderr?: string; code?: number }) => err,
    );
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    expect(output, output).toMatch(/^\d+ passed, 0 failed$/m);
    expect("code" in result ? result.code : 0, output).toBe(0);
  });
});
