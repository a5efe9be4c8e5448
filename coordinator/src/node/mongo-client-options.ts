import type { MongoClientOptions } from "mongodb";

// Connection settings that let a node's MongoDB client come back after the
// server restarts or stalls, instead of waiting forever on a dead socket:
// operations give up on a socket that stays silent, server selection fails
// fast enough for a caller's deadline, the monitor looks again every 2 s,
// and idle connections are recycled. A setting given in the URI wins.
const RECONNECTING: MongoClientOptions = {
  connectTimeoutMS: 5000,
  serverSelectionTimeoutMS: 5000,
  heartbeatFrequencyMS: 2000,
  socketTimeoutMS: 30_000,
  maxIdleTimeMS: 60_000,
};

/** The driver options for `uri`: our defaults for every setting the URI does not set itself. */
export function mongoClientOptions(uri: string): MongoClientOptions {
  const query = uri.includes("?") ? uri.slice(uri.indexOf("?") + 1) : "";
  const given = new Set([...new URLSearchParams(query).keys()].map((k) => k.toLowerCase()));
  return Object.fromEntries(
    Object.entries(RECONNECTING).filter(([name]) => !given.has(name.toLowerCase())),
  ) as MongoClientOptions;
}
