import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { ParticipantServiceClient } from "@saga-coordinator/proto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { startTestPostgres, type TestPostgres } from "../support/test-postgres.js";
import { spawnTracked, type TrackedProcess } from "../support/tracked-process.js";

// A participant killed between its business write and its reply (after COMMIT,
// before answering) and started again: the coordinator's retry gets the
// recorded output and the debit is applied exactly once, because the barrier
// record committed in the same PostgreSQL transaction as the debit.

const SCRIPT = path.resolve(import.meta.dirname, "../support/pg-debit-participant.mjs");

let db: TestPostgres;
let pool: pg.Pool;
let dir: string;

beforeAll(async () => {
  db = await startTestPostgres("bank");
  pool = db.pool;
  dir = mkdtempSync(path.join(tmpdir(), "saga-pg-crash-"));
  await pool.query("CREATE TABLE accounts (id text PRIMARY KEY, balance integer NOT NULL)");
  await pool.query("CREATE TABLE ledger (saga_id text NOT NULL)");
  await pool.query("INSERT INTO accounts VALUES ('alice', 100)");
});
afterAll(async () => {
  await db?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts the participant process and resolves once it says it is ready. */
async function startProcess(listen: string, crashMarker: string): Promise<TrackedProcess> {
  const proc = spawnTracked(process.execPath, [SCRIPT], {
    env: { ...process.env, PG_URL: db.url, LISTEN: listen, CRASH_MARKER: crashMarker },
  });
  await new Promise<void>((resolve, reject) => {
    proc.child.stdout?.on("data", () => {
      if (proc.output().includes("participant ready")) resolve();
    });
    proc.child.once("exit", (code) => reject(new Error(`participant exited with ${code}: ${proc.output()}`)));
  });
  return proc;
}

function execute(client: ParticipantServiceClient, sagaId: string, attempt: number) {
  return new Promise<{ output: Buffer } | ServiceError>((resolve) =>
    client.execute(
      {
        sagaId,
        sagaType: "payment",
        step: "debit",
        idempotencyKey: `${sagaId}/debit/execute`,
        attempt,
        payload: Buffer.from("{}"),
        contentType: "application/json",
        dependencyOutputs: {},
      },
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => resolve(err ?? { output: res.output }),
    ),
  );
}

describe("PostgreSQL barrier: a participant killed after COMMIT, before its reply", () => {
  it("applies the debit exactly once across the crash and the retry", async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const marker = path.join(dir, "crashed");
    const sagaId = `saga-${randomUUID()}`;

    const first = await startProcess(listen, marker);
    const client = new ParticipantServiceClient(listen, credentials.createInsecure());
    const lost = await execute(client, sagaId, 1);
    // The process died with the debit committed and no answer sent.
    expect((lost as ServiceError).code).toBe(status.UNAVAILABLE);
    await new Promise((resolve) =>
      first.child.exitCode !== null ? resolve(null) : first.child.once("exit", resolve),
    );
    expect(existsSync(marker)).toBe(true);
    expect((await pool.query("SELECT balance FROM accounts WHERE id = 'alice'")).rows[0].balance).toBe(70);

    const second = await startProcess(listen, marker);
    try {
      client.close();
      const retryClient = new ParticipantServiceClient(listen, credentials.createInsecure());
      const retried = await execute(retryClient, sagaId, 2);
      retryClient.close();
      expect(Buffer.from((retried as { output: Buffer }).output).toString()).toBe('{"debited":30}');
      expect((await pool.query("SELECT balance FROM accounts WHERE id = 'alice'")).rows[0].balance).toBe(70);
      expect(
        (await pool.query("SELECT count(*)::int AS n FROM ledger WHERE saga_id = $1", [sagaId])).rows[0].n,
      ).toBe(1);
    } finally {
      await second.kill("SIGTERM");
    }
  });
});
