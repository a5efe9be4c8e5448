import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Etcd3 } from "etcd3";
import { MongoClient, MongoServerError } from "mongodb";
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  etcdIsHealthy,
  type RunningService,
  startLocalEtcd,
  startLocalMongo,
} from "../services/src/index.js";

// Proves that global setup handed us REAL services, with the behaviour the
// coordinator relies on: etcd leases and elections; MongoDB conditional updates
// and unique indexes. Then that the test services module (test/services) can
// kill and restart the servers it starts, on the same ports and data, as the
// store-restart test and the chaos suite need.

const run = randomUUID().slice(0, 8);

describe("etcd", () => {
  const hosts = inject("etcdEndpoints").split(",");
  const clients: Etcd3[] = [];
  const connect = () => {
    const client = new Etcd3({ hosts });
    clients.push(client);
    return client.namespace(`services-test-${run}/`);
  };
  afterAll(() => {
    for (const client of clients) client.close();
  });

  it("stores and reads back a key", async () => {
    const etcd = connect();
    await etcd.put("greeting").value("hello");
    expect(await etcd.get("greeting").string()).toBe("hello");
  });

  it("drops a leased key once the lease expires", async () => {
    const etcd = connect();
    const lease = etcd.lease(2, { autoKeepAlive: false });
    await lease.put("ephemeral").value("soon gone");
    expect(await etcd.get("ephemeral").string()).toBe("soon gone");

    const deadline = Date.now() + 15_000;
    while ((await etcd.get("ephemeral").string()) !== null) {
      expect(Date.now(), "key outlived its 2 s lease by far").toBeLessThan(deadline);
      await sleep(250);
    }
  });

  it("elects exactly one leader and hands over when it resigns", async () => {
    // Two clients, as two coordinator nodes would be.
    const election = `leader-${randomUUID()}`;
    const [nodeA, nodeB] = [connect(), connect()];
    const a = nodeA.election(election, 5).campaign("node-a");
    await a.wait();

    const b = nodeB.election(election, 5).campaign("node-b");
    let bElected = false;
    b.on("elected", () => {
      bElected = true;
    });
    await b.getCampaignKey(); // b's candidacy is registered...
    await sleep(500);
    expect(bElected).toBe(false); // ...but a stays leader
    expect(await nodeB.election(election).leader()).toBe("node-a");

    await a.resign();
    await b.wait();
    expect(bElected).toBe(true);
    expect(await nodeA.election(election).leader()).toBe("node-b");
    await b.resign();
  });
});

describe("MongoDB", () => {
  const client = new MongoClient(inject("mongoUri"));
  const db = client.db(`services_test_${run}`);
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  it("inserts and finds a document", async () => {
    const docs = db.collection<{ _id: string; n: number }>("docs");
    await docs.insertOne({ _id: "a", n: 1 });
    expect(await docs.findOne({ _id: "a" })).toEqual({ _id: "a", n: 1 });
  });

  it("lets exactly one of several concurrent conditional updates win", async () => {
    const sagas = db.collection<{ _id: string; version: number; owner: string | null }>("sagas");
    await sagas.insertOne({ _id: "s1", version: 1, owner: null });

    const owners = ["a", "b", "c", "d", "e", "f", "g", "h"];
    const results = await Promise.all(
      owners.map((owner) =>
        sagas.updateOne({ _id: "s1", version: 1 }, { $set: { owner }, $inc: { version: 1 } }),
      ),
    );

    expect(results.map((r) => r.modifiedCount).reduce((x, y) => x + y)).toBe(1);
    const winner = owners[results.findIndex((r) => r.modifiedCount === 1)];
    expect(await sagas.findOne({ _id: "s1" })).toEqual({ _id: "s1", version: 2, owner: winner });
  });

  it("rejects a duplicate key under a unique index with code 11000", async () => {
    const keys = db.collection<{ key: string }>("idempotency");
    await keys.createIndex({ key: 1 }, { unique: true });
    await keys.insertOne({ key: "k1" });

    const duplicate = await keys.insertOne({ key: "k1" }).catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(MongoServerError);
    expect((duplicate as MongoServerError).code).toBe(11000);
    expect(await keys.countDocuments({ key: "k1" })).toBe(1);
  });
});

describe("test services module", () => {
  const started: RunningService[] = [];
  afterAll(async () => {
    for (const service of started) await service.stop();
  });

  it("kills etcd and starts it again on the same port with its data", async () => {
    const etcd = await startLocalEtcd();
    expect(etcd, "etcd must be on PATH (bash scripts/install-test-deps.sh)").toBeDefined();
    if (!etcd) return;
    started.push(etcd);
    const client = new Etcd3({ hosts: etcd.url });
    try {
      await client.put("survives").value("restart");
      await etcd.kill();
      expect(etcd.running).toBe(false);
      await expect(etcdIsHealthy(etcd.url)).rejects.toThrow();
      await etcd.start();
      expect(etcd.running).toBe(true);
      expect(await client.get("survives").string()).toBe("restart");
    } finally {
      client.close();
    }
  });

  it("kills the MongoDB-wire server, and each of its processes, and starts them again on the same port", async () => {
    const mongo = await startLocalMongo();
    expect(
      mongo,
      "a local MongoDB-wire server must be installed (bash scripts/install-test-deps.sh)",
    ).toBeDefined();
    if (!mongo) return;
    started.push(mongo);
    console.log(`[services.test] restarting ${mongo.description}`);
    // After PostgreSQL restarts, FerretDB's first query on a pooled connection may fail
    // ("terminating connection due to unexpected postmaster exit"), as with any
    // server restart: a client retries, and so does this read, within a deadline.
    const readBack = async () => {
      const client = new MongoClient(mongo.url, { serverSelectionTimeoutMS: 20_000 });
      try {
        const giveUpAt = Date.now() + 30_000;
        for (;;) {
          try {
            return await client.db("restart").collection<{ _id: string }>("docs").findOne({ _id: "kept" });
          } catch (err) {
            if (Date.now() > giveUpAt) throw err;
            await new Promise((r) => setTimeout(r, 200)); // retry pacing, not ordering
          }
        }
      } finally {
        await client.close();
      }
    };
    const client = new MongoClient(mongo.url);
    await client.db("restart").collection<{ _id: string }>("docs").insertOne({ _id: "kept" });
    await client.close();

    const processes = [mongo, ...Object.values(mongo.parts)];
    expect(processes.length).toBe(mongo.kind === "ferretdb-postgresql" ? 3 : 1);
    for (const service of processes) {
      const pid = service.pid;
      await service.restart();
      expect(service.running).toBe(true);
      expect(service.pid).not.toBe(pid);
      // A durable server keeps its data; the in-memory fallback loses it.
      expect(await readBack()).toEqual(mongo.durable ? { _id: "kept" } : null);
    }
  });
});
