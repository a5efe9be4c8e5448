import { setTimeout as sleep } from "node:timers/promises";
import { MongoClient } from "mongodb";

// "Does it really answer?" checks, shared by every way of getting a service.

/** Resolves when etcd's /health says healthy on every endpoint; rejects otherwise. */
export async function etcdIsHealthy(endpoints: string): Promise<void> {
  for (const endpoint of endpoints.split(",")) {
    const response = await fetch(new URL("/health", endpoint.trim()), { signal: AbortSignal.timeout(2_000) });
    const body = (await response.json()) as { health?: string };
    if (!response.ok || body.health !== "true") {
      throw new Error(`${endpoint}/health answered ${response.status} ${JSON.stringify(body)}`);
    }
  }
}

/** Resolves when the server at `uri` answers a MongoDB `ping`; rejects otherwise. */
export async function mongoAnswersPing(uri: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2_000, connectTimeoutMS: 2_000 });
  try {
    await client.db("admin").command({ ping: 1 });
  } finally {
    await client.close();
  }
}

/** Resolves when the server at `uri` answers `ping` and `listDatabases` (which reaches FerretDB's backend). */
export async function mongoAnswersQueries(uri: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2_000, connectTimeoutMS: 2_000 });
  try {
    await client.db("admin").command({ ping: 1 });
    await client.db("admin").command({ listDatabases: 1, nameOnly: true });
  } finally {
    await client.close();
  }
}

/** "FerretDB v1.24.2" or "MongoDB 7.0.14", from `buildInfo`; undefined when it does not answer. */
export async function mongoServerName(uri: string): Promise<string | undefined> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 2_000, connectTimeoutMS: 2_000 });
  try {
    const info = await client.db("admin").command({ buildInfo: 1 });
    if (typeof info.ferretdbVersion === "string") return `FerretDB ${info.ferretdbVersion}`;
    return typeof info.version === "string" ? `MongoDB ${info.version}` : undefined;
  } catch {
    return undefined;
  } finally {
    await client.close();
  }
}

/**
 * Retries `probe` until it succeeds and returns its result. Gives up after
 * `timeoutMs`, or as soon as `gaveUp()` returns a reason (e.g. the server exited).
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T>,
  opts: { timeoutMs: number; gaveUp?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const reason = opts.gaveUp?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      return await probe();
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not answering after ${opts.timeoutMs} ms (${describe(lastError)})`);
    }
    await sleep(200);
  }
}

/** An error's message, with its cause's (fetch hides ECONNREFUSED there). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}
