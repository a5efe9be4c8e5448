import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";
import { afterAll, describe, expect, inject, it } from "vitest";
import { MongoSagaStore } from "../../coordinator/src/store/mongo-saga-store.js";
import { sagaStoreContract } from "../support/saga-store-contract.js";

const client = new MongoClient(inject("mongoUri"));
afterAll(() => client.close());

// A fresh database per store keeps the contract cases independent.
sagaStoreContract("mongodb", () => MongoSagaStore.open(client.db(`store_${randomUUID().slice(0, 8)}`)));

describe("MongoSagaStore event outbox", () => {
  it("serves events still in the outbox and flushes them on the next get", async () => {
    const db = client.db(`outbox_${randomUUID().slice(0, 8)}`);
    const store = await MongoSagaStore.open(db);
    const base = {
      sagaId: "o1",
      partition: 0,
      definition: { sagaType: "t", deadlineAt: null, labels: {}, steps: [] },
      definitionHash: "h",
      state: { status: "RUNNING" as const, steps: {}, reason: "", nextWakeAt: null },
      version: 0,
      fence: 0,
      createdAt: 1,
      updatedAt: 1,
      eventSeq: 0,
    };
    await store.insert(base, []);
    // A crash right after the saga write: the copy into saga_events never happened.
    const pending = {
      _id: "o1#000000000001",
      sagaId: "o1",
      sequence: 1,
      type: "SAGA_STARTED",
      time: 1,
      step: "",
      attempt: 0,
      status: "RUNNING",
      detail: "",
    };
    await db
      .collection("sagas")
      .updateOne({ _id: "o1" as never }, { $set: { pendingEvents: [pending], eventSeq: 1 } });
    expect(await db.collection("saga_events").countDocuments({ sagaId: "o1" })).toBe(0);
    expect((await store.events("o1", 0, 10)).map((e) => e.sequence)).toEqual([1]);
    await store.get("o1");
    expect(await db.collection("saga_events").countDocuments({ sagaId: "o1" })).toBe(1);
    await store.close();
  });
});
