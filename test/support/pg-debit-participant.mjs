// A participant whose debit and barrier record commit in one PostgreSQL
// transaction. With CRASH_MARKER set to a file that does not exist yet, the
// first debit creates it and SIGKILLs this process right after COMMIT, before
// answering: the crash "between the business write and the reply".
// Env: PG_URL, LISTEN, CRASH_MARKER (optional).
import { existsSync, writeFileSync } from "node:fs";
import { jsonBytes, startParticipant } from "@saga-coordinator/participant-sdk";
import { PostgresBarrierStore } from "@saga-coordinator/participant-sdk/barrier/postgres";
import pg from "pg";

const pool = new pg.Pool({ connectionString: process.env.PG_URL });
pool.on("error", () => {});
const marker = process.env.CRASH_MARKER;

await startParticipant({
  listen: process.env.LISTEN ?? "127.0.0.1:0",
  barrier: await PostgresBarrierStore.open(pool),
  handleSignals: true,
  steps: {
    debit: {
      execute: async (ctx) => {
        const output = jsonBytes({ debited: 30 });
        const client = await pool.connect();
        try {
          await client.query("BEGIN");
          await client.query("UPDATE accounts SET balance = balance - 30 WHERE id = 'alice'");
          await client.query("INSERT INTO ledger (saga_id) VALUES ($1)", [ctx.sagaId]);
          await ctx.commit(output, { session: client });
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw err;
        } finally {
          client.release();
        }
        if (marker && !existsSync(marker)) {
          writeFileSync(marker, "crashed once");
          process.kill(process.pid, "SIGKILL");
        }
        return output;
      },
      compensate: async () => {},
    },
  },
});
process.stdout.write("participant ready\n");
