import { randomUUID } from "node:crypto";
import { MongoClient } from "mongodb";
import { afterAll, describe, expect, inject, it } from "vitest";
import { DEFAULT_GROUP_COMMIT, MongoSagaStore } from "../../coordinator/src/store/mongo-saga-store.js";
import { sagaStoreContract } from "../support/saga-store-contract.js";

const client = new MongoClient(inject("mongoUri"));
afterAll(() => client.close());

// A fresh database per store keeps the contract cases independent.
sagaStoreContract("mongodb", () => MongoSagaStore.open(client.db(`store_${randomUUID().slice(0, 8)}`)));

describe("MongoSagaStore group commit", () => {
  it("writes the transitions of many sagas, history included, in one round trip", async () => {
    const counted = new MongoClient(inject("mongoUri"), { monitorCommands: true });
    const commands: string[] = [];
    counted.on("commandStarted", (e) => commands.push(e.commandName));
    const store = await MongoSagaStore.open(
      counted.db(`gc_${randomUUID().slice(0, 8)}`),
      () => counted.close(),
      {
        ...DEFAULT_GROUP_COMMIT,
        maxBatch: 100,
        // Hold the first flush back a little, so every write below joins it.
        delayMs: 50,
      },
    );
    const ids = Array.from({ length: 40 }, (_, i) => `b${i}`);
    commands.length = 0;
    const results = await Promise.all(ids.map((id) => store.insert(sagaRecord(id), [startedEvent(id)])));
    expect(results.every((r) => r.inserted)).toBe(true);
    expect(commands).toEqual(["insert"]);
    expect((await store.events("b7", 0, 10)).map((e) => e.type)).toEqual(["SAGA_STARTED"]);
    await store.close();
  });
});

function sagaRecord(sagaId: string) {
  return {
    sagaId,
    partition: 0,
    definition: { sagaType: "t", deadlineAt: null, labels: {}, steps: [] },
    definitionHash: "h",
    state: { status: "RUNNING" as const, steps: {}, reason: "", nextWakeAt: null },
    version: 0,
    fence: 0,
    createdAt: 1,
    updatedAt: 1,
    eventSeq: 1,
  };
}

function startedEvent(sagaId: string) {
  return {
    sagaId,
    sequence: 1,
    type: "SAGA_STARTED" as const,
    time: 1,
    step: "",
    attempt: 0,
    status: "RUNNING" as const,
    detail: "",
  };
}
