import { describe, expect, it } from "vitest";
import {
  DEFAULT_COMPENSATE_RETRY,
  DEFAULT_EXECUTE_RETRY,
} from "../../coordinator/src/engine/saga-definition.js";
import { MemorySagaStore } from "../../coordinator/src/store/memory-saga-store.js";
import type { SagaRecord } from "../../coordinator/src/store/saga-record.js";
import { sagaStoreContract } from "../support/saga-store-contract.js";

sagaStoreContract("memory", async () => new MemorySagaStore());

describe("MemorySagaStore retention", () => {
  it("keeps at most the configured number of finished sagas, forgetting the oldest first", async () => {
    const store = new MemorySagaStore(3);
    for (let i = 0; i < 10; i++) await store.insert(finished(`done-${i}`), []);
    await store.insert(running("live"), []);
    expect(store.size).toBe(4);
    expect(await store.get("done-6")).toBeNull();
    expect((await store.get("done-7"))?.sagaId).toBe("done-7");
    expect((await store.get("live"))?.sagaId).toBe("live");
    // A saga that finishes later counts from when it finished.
    await store.update({ ...finished("live"), version: 1 }, 0, []);
    expect(await store.get("done-7")).toBeNull();
    expect((await store.get("live"))?.state.status).toBe("COMPLETED");
  });
});

function running(sagaId: string): SagaRecord {
  return {
    sagaId,
    partition: 0,
    definition: {
      sagaType: "t",
      deadlineAt: null,
      labels: {},
      steps: [
        {
          name: "a",
          participant: "127.0.0.1:1",
          payload: new Uint8Array(),
          contentType: "",
          dependsOn: [],
          kind: "compensatable",
          retry: DEFAULT_EXECUTE_RETRY,
          compensateRetry: DEFAULT_COMPENSATE_RETRY,
          timeoutMs: 1000,
        },
      ],
    },
    definitionHash: "h",
    state: { status: "RUNNING", steps: {}, reason: "", nextWakeAt: null },
    version: 0,
    fence: 0,
    createdAt: 1,
    updatedAt: 1,
    eventSeq: 0,
  };
}

function finished(sagaId: string): SagaRecord {
  const r = running(sagaId);
  return { ...r, state: { ...r.state, status: "COMPLETED" } };
}
