import type { Pool, PoolClient, QueryResultRow } from "pg";
import type {
  BarrierContent,
  BarrierMatch,
  BarrierRecord,
  BarrierState,
  ExecuteOutcome,
} from "./barrier-record.js";
import type { BarrierStore, BarrierWriteOptions } from "./barrier-store.js";

export interface PostgresBarrierStoreOptions {
  /** Table of the records (created if missing). Default "saga_barrier". */
  table?: string;
}

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Barrier records in PostgreSQL: one row per step, keyed by "<saga_id>/<step>".
 * Every write is one conditional statement on one row (INSERT ... ON CONFLICT
 * DO NOTHING, UPDATE/DELETE ... WHERE state/version/owner match), the same
 * atomic operations as the MongoDB store.
 *
 * In the business transaction: a handler that writes its effect through a
 * client of its own, inside BEGIN, passes that client to `ctx.commit(output,
 * { session: client })`; the record is then written by the same transaction,
 * so the effect and its record commit (or roll back) together, and a
 * participant killed between its business write and its reply applies the
 * effect exactly once.
 */
export class PostgresBarrierStore implements BarrierStore {
  private constructor(
    private readonly pool: Pool,
    private readonly table: string,
  ) {}

  /** The store on `pool`, its table created if missing. */
  static async open(pool: Pool, options: PostgresBarrierStoreOptions = {}): Promise<PostgresBarrierStore> {
    const table = options.table ?? "saga_barrier";
    if (!TABLE_NAME.test(table)) {
      throw new TypeError(
        `table ${JSON.stringify(table)}: use 1..63 characters of [a-z0-9_], not starting with a digit`,
      );
    }
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (
      key text PRIMARY KEY,
      state text NOT NULL,
      version integer NOT NULL,
      owner text,
      lease_until bigint,
      output bytea,
      failure text,
      execute_outcome text,
      updated_at timestamptz NOT NULL
    )`);
    return new PostgresBarrierStore(pool, table);
  }

  async insertIfAbsent(record: BarrierRecord): Promise<BarrierRecord | null> {
    const inserted = await this.pool.query(
      `INSERT INTO ${this.table} (key, state, version, owner, lease_until, output, failure, execute_outcome, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9 / 1000.0))
       ON CONFLICT (key) DO NOTHING`,
      [record.key, record.state, record.version, ...contentValues(record)],
    );
    if (inserted.rowCount === 1) return null;
    const existing = await this.get(record.key);
    // Deleted between the two statements: try again (rare; each attempt is atomic on its own).
    return existing ?? this.insertIfAbsent(record);
  }

  async update(
    key: string,
    expected: BarrierMatch,
    content: BarrierContent,
    options: BarrierWriteOptions = {},
  ): Promise<boolean> {
    // The caller's client, inside its own BEGIN, when it commits the record with its business write.
    const db = (options.session as PoolClient | undefined) ?? this.pool;
    const [where, params] = match(key, expected, 7);
    const result = await db.query(
      `UPDATE ${this.table}
       SET owner = $1, lease_until = $2, output = $3, failure = $4, execute_outcome = $5,
           updated_at = to_timestamp($6 / 1000.0), state = $7, version = version + 1
       WHERE ${where}`,
      [...contentValues(content), content.state, ...params],
    );
    return result.rowCount === 1;
  }

  async delete(key: string, expected: BarrierMatch): Promise<boolean> {
    const [where, params] = match(key, expected, 0);
    const result = await this.pool.query(`DELETE FROM ${this.table} WHERE ${where}`, params);
    return result.rowCount === 1;
  }

  async get(key: string): Promise<BarrierRecord | null> {
    const result = await this.pool.query(
      `SELECT key, state, version, owner, lease_until, output, failure, execute_outcome,
              (extract(epoch FROM updated_at) * 1000)::bigint AS updated_ms
       FROM ${this.table} WHERE key = $1`,
      [key],
    );
    const row = result.rows[0];
    return row ? fromRow(row) : null;
  }
}

/** owner, lease_until, output, failure, execute_outcome, updated_at (ms) of a record's content. */
function contentValues(content: BarrierContent): unknown[] {
  return [
    content.owner ?? null,
    content.leaseUntil ?? null,
    content.output ? Buffer.from(content.output) : null,
    content.failure ?? null,
    content.executeOutcome ?? null,
    content.updatedAt,
  ];
}

/** The WHERE clause of a conditional write and its parameters, numbered after the first `offset`. */
function match(key: string, expected: BarrierMatch, offset: number): [string, unknown[]] {
  const params: unknown[] = [key, expected.state];
  const clauses = [`key = $${offset + 1}`, `state = $${offset + 2}`];
  if (expected.version !== undefined) {
    params.push(expected.version);
    clauses.push(`version = $${offset + params.length}`);
  }
  if (expected.owner !== undefined) {
    params.push(expected.owner);
    clauses.push(`owner = $${offset + params.length}`);
  }
  return [clauses.join(" AND "), params];
}

function fromRow(row: QueryResultRow): BarrierRecord {
  const record: BarrierRecord = {
    key: row.key,
    state: row.state as BarrierState,
    version: row.version,
    updatedAt: Number(row.updated_ms),
  };
  if (row.owner !== null) record.owner = row.owner;
  if (row.lease_until !== null) record.leaseUntil = Number(row.lease_until);
  if (row.output !== null) record.output = new Uint8Array(row.output);
  if (row.failure !== null) record.failure = row.failure;
  if (row.execute_outcome !== null) record.executeOutcome = row.execute_outcome as ExecuteOutcome;
  return record;
}
