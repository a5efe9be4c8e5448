import { randomUUID } from "node:crypto";
import { Barrier, BusinessFailure } from "@saga-coordinator/participant-sdk";
import { PostgresBarrierStore } from "@saga-coordinator/participant-sdk/barrier/postgres";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { barrierContract } from "../support/barrier-contract.js";
import { startTestPostgres, type TestPostgres } from "../support/test-postgres.js";

// The barrier on a real PostgreSQL: the store contract every store passes, and
// the record written in the handler's own transaction with its business change.

let db: TestPostgres;
let pool: pg.Pool;

beforeAll(async () => {
  db = await startTestPostgres("barrier");
  pool = db.pool;
});
afterAll(() => db?.stop());

barrierContract("PostgresBarrierStore", () => PostgresBarrierStore.open(pool));

describe("PostgresBarrierStore in the business transaction", () => {
  /** A handler's business change and its barrier record, in one transaction. */
  async function debitInTransaction(barrier: Barrier, key: string, amount: number, failAfterCommit = false) {
    return barrier.execute(key, async (claim) => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const debited = await client.query(
          "UPDATE accounts SET balance = balance - $1 WHERE id = 'alice' AND balance >= $1",
          [amount],
        );
        if (debited.rowCount !== 1) throw new BusinessFailure("insufficient funds");
        const output = Buffer.from(`debited ${amount}`);
        await claim.commit(output, { session: client });
        if (failAfterCommit) throw new Error("crash before COMMIT");
        await client.query("COMMIT");
        return output;
      } catch (err) {
        await client.query("ROLLBACK");
        throw err;
      } finally {
        client.release();
      }
    });
  }

  it("commits the effect and its record together; a repeat replays without a second debit", async () => {
    const store = await PostgresBarrierStore.open(pool, { table: "barrier_tx" });
    await pool.query("CREATE TABLE IF NOT EXISTS accounts (id text PRIMARY KEY, balance integer NOT NULL)");
    await pool.query(
      "INSERT INTO accounts VALUES ('alice', 100) ON CONFLICT (id) DO UPDATE SET balance = 100",
    );
    const barrier = new Barrier(store);
    const key = `saga-${randomUUID()}/debit`;
    expect(Buffer.from(await debitInTransaction(barrier, key, 30)).toString()).toBe("debited 30");
    expect(Buffer.from(await debitInTransaction(barrier, key, 30)).toString()).toBe("debited 30");
    expect((await pool.query("SELECT balance FROM accounts WHERE id = 'alice'")).rows[0].balance).toBe(70);
    expect((await store.get(key))?.state).toBe("executed");
  });

  it("rolls the record back with the business change: a retry applies the effect once", async () => {
    const store = await PostgresBarrierStore.open(pool, { table: "barrier_tx" });
    await pool.query(
      "INSERT INTO accounts VALUES ('alice', 100) ON CONFLICT (id) DO UPDATE SET balance = 100",
    );
    const barrier = new Barrier(store);
    const key = `saga-${randomUUID()}/debit`;
    await expect(debitInTransaction(barrier, key, 30, true)).rejects.toThrow("crash before COMMIT");
    // Neither the debit nor the "executed" record survived the rollback; the claim is released.
    expect((await pool.query("SELECT balance FROM accounts WHERE id = 'alice'")).rows[0].balance).toBe(100);
    expect(await store.get(key)).toBeNull();
    expect(Buffer.from(await debitInTransaction(barrier, key, 30)).toString()).toBe("debited 30");
    expect((await pool.query("SELECT balance FROM accounts WHERE id = 'alice'")).rows[0].balance).toBe(70);
  });

  it("refuses a table name that is not a plain identifier", async () => {
    await expect(PostgresBarrierStore.open(pool, { table: "x; DROP TABLE accounts" })).rejects.toThrow(
      "use 1..63 characters of [a-z0-9_]",
    );
  });
});
