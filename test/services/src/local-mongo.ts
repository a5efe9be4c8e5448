import { startFerretdbOnPostgres } from "./ferretdb-postgresql.js";
import { startMongoJavaServer } from "./mongo-java-server.js";
import { startLocalMongod } from "./mongod.js";
import type { MongoKind, RunningService } from "./running-service.js";

/** Preference order among installed MongoDB-wire servers: a real mongod, else FerretDB on PostgreSQL, else the in-memory fallback. */
export const MONGO_KINDS: readonly MongoKind[] = ["mongod", "ferretdb-postgresql", "mongo-java-server"];

const starters: Record<MongoKind, () => Promise<RunningService | undefined>> = {
  mongod: startLocalMongod,
  "ferretdb-postgresql": startFerretdbOnPostgres,
  "mongo-java-server": startMongoJavaServer,
};

export interface LocalMongoOptions {
  /**
   * Which servers to try, in order. Default: SAGA_TEST_MONGO (comma-separated
   * kinds) when set, else MONGO_KINDS.
   */
  kinds?: readonly MongoKind[];
}

/** The first of `kinds` that is installed here, started on a free port in a temp dir; undefined when none is. */
export async function startLocalMongo(opts: LocalMongoOptions = {}): Promise<RunningService | undefined> {
  for (const kind of opts.kinds ?? mongoKindsFromEnv()) {
    const service = await starters[kind]();
    if (service) return service;
  }
  return undefined;
}

/** SAGA_TEST_MONGO, e.g. "ferretdb-postgresql" or "mongo-java-server,ferretdb-postgresql"; MONGO_KINDS when unset. */
export function mongoKindsFromEnv(): readonly MongoKind[] {
  const value = process.env.SAGA_TEST_MONGO?.trim();
  if (!value) return MONGO_KINDS;
  const kinds = value.split(",").map((k) => k.trim());
  const unknown = kinds.filter((k) => !(MONGO_KINDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new Error(
      `SAGA_TEST_MONGO: unknown server ${unknown.join(", ")}; allowed: ${MONGO_KINDS.join(", ")}`,
    );
  }
  return kinds as MongoKind[];
}
