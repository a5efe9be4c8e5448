import { randomUUID } from "node:crypto";
import { Barrier } from "@saga-coordinator/participant-sdk";
import { MongoBarrierStore } from "@saga-coordinator/participant-sdk/barrier/mongodb";
import { MongoClient } from "mongodb";
import { afterAll, describe, expect, inject, it } from "vitest";
import { barrierContract } from "../support/barrier-contract.js";

const client = new MongoClient(inject("mongoUri"));
afterAll(() => client.close());
const db = client.db(`barrier_${randomUUID().slice(0, 8)}`);
afterAll(() => db.dropDatabase());

// One shared collection, as participant replicas would share it; each case uses fresh keys.
barrierContract("MongoBarrierStore", () => new MongoBarrierStore(db));

describe("MongoBarrierStore specifics", () => {
  it("keeps one document per step, keyed by _id, with the output as binary", async () => {
    const store = new MongoBarrierStore(db, { collection: "barrier_docs" });
    const barrier = new Barrier(store);
    const key = `saga-${randomUUID()}/pay`;
    await barrier.execute(key, async () => Buffer.from([0, 1, 2, 255]));
    await barrier.compensate(key, async () => {});
    const docs = await db
      .collection("barrier_docs")
      .find({ _id: key as never })
      .toArray();
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({
      _id: key,
      state: "compensated",
      version: 4,
      executeOutcome: "completed",
    });
    expect(docs[0]?.owner).toBeUndefined();
    expect([...((await store.get(key))?.output ?? [])]).toEqual([0, 1, 2, 255]);
  });

  it("commit() writes the record through the handler's own MongoDB session", async () => {
    const store = new MongoBarrierStore(db);
    const barrier = new Barrier(store);
    const key = `saga-${randomUUID()}/reserve`;
    const inventory = db.collection<{ _id: string; reserved: number }>("inventory");
    const reserve = () =>
      client.withSession(async (session) =>
        barrier.execute(key, async (claim) => {
          // The barrier record and the business write go through the same session (in a
          // transaction on a replica set, they commit together).
          await claim.commit(Buffer.from("reserved"), { session });
          await inventory.updateOne({ _id: key }, { $inc: { reserved: 1 } }, { upsert: true, session });
          return Buffer.from("reserved");
        }),
      );
    if (await supportsSessions()) {
      expect(Buffer.from(await reserve()).toString()).toBe("reserved");
      expect((await store.get(key))?.state).toBe("executed");
      expect((await inventory.findOne({ _id: key }))?.reserved).toBe(1);
    } else {
      // A server without sessions (e.g. mongo-java-server) rejects the session-bound write: the
      // commit really goes through the session, and its failure releases the claim for a retry.
      await expect(reserve()).rejects.toThrow(/session/i);
      expect(await store.get(key)).toBeNull();
      expect(await inventory.findOne({ _id: key })).toBeNull();
    }
  });
});

async function supportsSessions(): Promise<boolean> {
  try {
    await client.withSession((session) => db.collection("probe").findOne({}, { session }));
    return true;
  } catch {
    return false;
  }
}
