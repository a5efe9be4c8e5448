import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { findPostgresBinDir } from "../services/src/binaries.js";
import { startLocalPostgres } from "../services/src/postgresql.js";

export interface TestPostgres {
  url: string;
  pool: pg.Pool;
  stop(): Promise<void>;
}

/** A throwaway PostgreSQL cluster of this test file's own, with `database` and a pool on it. */
export async function startTestPostgres(database: string): Promise<TestPostgres> {
  const binDir = findPostgresBinDir();
  if (!binDir) throw new Error("this test needs PostgreSQL: bash scripts/install-test-deps.sh");
  const dir = mkdtempSync(path.join(tmpdir(), "saga-test-pg-"));
  const postgres = await startLocalPostgres(binDir, dir, database);
  const pool = new pg.Pool({ connectionString: postgres.url, max: 20 });
  // Idle clients report the server's shutdown at the end; pg wants a listener for that.
  pool.on("error", () => {});
  return {
    url: postgres.url,
    pool,
    async stop() {
      await pool.end();
      await postgres.process.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
