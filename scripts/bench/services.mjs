// The store and etcd a run needs: MONGODB_URI / ETCD_ENDPOINTS from the
// environment when set, else started here by the project's test-services
// module (and stopped at the end). The store is FerretDB on PostgreSQL;
// mongo-java-server (in memory, not durable) only when that cannot be had.
import { MongoClient } from "mongodb";

const BENCH_MONGO_KINDS = ["ferretdb-postgresql", "mongo-java-server"];

async function testServices() {
  try {
    return await import("@saga-coordinator/test-services");
  } catch (err) {
    throw new Error(
      `@saga-coordinator/test-services did not load (${err.message}): run npm run build, or set MONGODB_URI / ETCD_ENDPOINTS`,
    );
  }
}

/** { mongoUri, etcd, store, etcdServer (which servers ran), stop() } for what the run needs. */
export async function provideServices({ needStore, needEtcd, log }) {
  const stops = [];
  const out = { mongoUri: null, etcd: null, store: null, etcdServer: null };
  try {
    if (needStore) {
      if (process.env.MONGODB_URI) {
        out.mongoUri = process.env.MONGODB_URI;
        out.store = `${await describeStore(out.mongoUri)} at MONGODB_URI`;
      } else {
        const mod = await testServices();
        const kinds = process.env.SAGA_TEST_MONGO ? mod.mongoKindsFromEnv() : BENCH_MONGO_KINDS;
        log(`starting a local MongoDB-wire server (first installed of ${kinds.join(", ")})`);
        const mongo = await mod.startLocalMongo({ kinds });
        if (!mongo)
          throw new Error(`none of ${kinds.join(", ")} is installed: run scripts/install-test-deps.sh`);
        stops.push(() => mongo.stop());
        out.mongoUri = mongo.url;
        out.store = `${mongo.description}${mongo.durable ? "" : " (in memory: NOT durable)"}`;
      }
    }
    if (needEtcd) {
      if (process.env.ETCD_ENDPOINTS) {
        out.etcd = process.env.ETCD_ENDPOINTS;
        out.etcdServer = `${out.etcd} (ETCD_ENDPOINTS)`;
      } else {
        log("starting a local etcd");
        const etcd = await (await testServices()).startLocalEtcd();
        if (!etcd)
          throw new Error("etcd is not installed: run scripts/install-test-deps.sh, or set ETCD_ENDPOINTS");
        stops.push(() => etcd.stop());
        out.etcd = etcd.url;
        out.etcdServer = etcd.description;
      }
    }
  } catch (err) {
    await Promise.allSettled(stops.map((stop) => stop()));
    throw err;
  }
  return { ...out, stop: () => Promise.allSettled(stops.reverse().map((stop) => stop())) };
}

/** "FerretDB v1.24.2 (wire 7.0.42)" or "MongoDB 7.0.12", from buildInfo. */
async function describeStore(uri) {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    const info = await client.db("admin").command({ buildInfo: 1 });
    return info.ferretdbVersion
      ? `FerretDB ${info.ferretdbVersion} (wire ${info.version})`
      : `MongoDB ${info.version}`;
  } finally {
    await client.close();
  }
}
