// "@saga-coordinator/participant-sdk/barrier/postgres": the barrier on PostgreSQL.
// Needs the `pg` package (an optional peer dependency of this SDK).
export { PostgresBarrierStore, type PostgresBarrierStoreOptions } from "../barrier/postgres-barrier-store.js";
