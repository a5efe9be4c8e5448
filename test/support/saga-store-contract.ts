import { afterAll, beforeEach, describe, expect, it } from "vitest";
import {
  DEFAULT_COMPENSATE_RETRY,
  DEFAULT_EXECUTE_RETRY,
  type SagaDefinition,
} from "../../coordinator/src/engine/saga-definition.js";
import { initialState } from "../../coordinator/src/engine/saga-machine.js";
import type { SagaEventRecord, SagaRecord } from "../../coordinator/src/store/saga-record.js";
import type { SagaStore } from "../../coordinator/src/store/saga-store.js";

// One behavioural contract for every SagaStore implementation.

function definition(sagaType = "order", labels: Record<string, string> = {}): SagaDefinition {
  return {
    sagaType,
    deadlineAt: null,
    labels,
    steps: ["a.1", "$b"].map((name) => ({
      name,
      participant: "127.0.0.1:1",
      payload: new Uint8Array([0, 1, 2, 255]),
      contentType: "application/octet-stream",
      dependsOn: [],
      kind: "compensatable" as const,
      retry: DEFAULT_EXECUTE_RETRY,
      compensateRetry: DEFAULT_COMPENSATE_RETRY,
      timeoutMs: 1000,
    })),
  };
}

function record(sagaId: string, over: Partial<SagaRecord> = {}): SagaRecord {
  const def = over.definition ?? definition();
  return {
    sagaId,
    partition: 3,
    definition: def,
    definitionHash: "h1",
    state: initialState(def),
    version: 0,
    fence: 0,
    createdAt: 1000,
    updatedAt: 1000,
    eventSeq: 0,
    ...over,
  };
}

function event(sagaId: string, sequence: number): SagaEventRecord {
  return {
    sagaId,
    sequence,
    type: "STEP_DISPATCHED",
    time: 5,
    step: "a.1",
    attempt: 1,
    status: "RUNNING",
    detail: "",
  };
}

export function sagaStoreContract(name: string, open: () => Promise<SagaStore>): void {
  describe(`SagaStore contract: ${name}`, () => {
    let store: SagaStore;
    const opened: SagaStore[] = [];
    beforeEach(async () => {
      store = await open();
      opened.push(store);
    });
    afterAll(async () => {
      for (const s of opened) await s.close();
    });

    it("round-trips a saga, bytes and odd step names included", async () => {
      const r = record("s1", { definition: definition("order", { "team.name": "pay/ments" }) });
      r.state.steps["a.1"] = {
        ...(r.state.steps["a.1"] as SagaRecord["state"]["steps"][string]),
        output: new Uint8Array([9, 8]),
      };
      expect(await store.insert(r, [event("s1", 1)])).toEqual({ inserted: true });
      const got = await store.get("s1");
      expect(got).toEqual(r);
      expect(await store.get("nope")).toBeNull();
      expect(await store.events("s1", 0, 10)).toEqual([event("s1", 1)]);
    });

    it("returns the existing saga on a duplicate insert", async () => {
      await store.insert(record("dup"), []);
      const again = await store.insert(record("dup", { definitionHash: "other" }), []);
      expect(again.inserted).toBe(false);
      expect(again.inserted === false && again.existing.definitionHash).toBe("h1");
    });

    it("updates only on the expected version and a fence not below the stored one", async () => {
      await store.insert(record("v"), []);
      const next = record("v", { version: 1, fence: 5, eventSeq: 1 });
      expect(await store.update(next, 0, [event("v", 1)])).toBe(true);
      expect(await store.update(record("v", { version: 2, fence: 5 }), 0, [])).toBe(false);
      expect(await store.update(record("v", { version: 2, fence: 4 }), 1, [])).toBe(false);
      expect(await store.update(record("v", { version: 2, fence: 6, eventSeq: 2 }), 1, [event("v", 2)])).toBe(
        true,
      );
      const got = await store.get("v");
      expect(got?.version).toBe(2);
      expect(got?.fence).toBe(6);
      expect((await store.events("v", 0, 10)).map((e) => e.sequence)).toEqual([1, 2]);
      expect((await store.events("v", 1, 10)).map((e) => e.sequence)).toEqual([2]);
    });

    it("lets exactly one of many concurrent writers of the same version win", async () => {
      await store.insert(record("race"), []);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.update(record("race", { version: 1, updatedAt: 3000 + i }), 0, []),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it("lists newest first with filters and a stable keyset cursor", async () => {
      for (let i = 0; i < 5; i++) {
        const def = definition(i % 2 ? "odd" : "even", { n: String(i), all: "yes" });
        await store.insert(record(`l${i}`, { createdAt: 2000 + (i < 4 ? i : 3), definition: def }), []);
      }
      const all = await store.list({ limit: 10, labels: { all: "yes" } });
      expect(all.map((r) => r.sagaId)).toEqual(["l4", "l3", "l2", "l1", "l0"]);
      const page1 = await store.list({ limit: 2, labels: { all: "yes" } });
      const last = page1.at(-1) as SagaRecord;
      const page2 = await store.list({
        limit: 2,
        labels: { all: "yes" },
        after: { createdAt: last.createdAt, sagaId: last.sagaId },
      });
      expect([...page1, ...page2].map((r) => r.sagaId)).toEqual(["l4", "l3", "l2", "l1"]);
      expect((await store.list({ limit: 10, sagaType: "odd" })).map((r) => r.sagaId)).toEqual(["l3", "l1"]);
      expect((await store.list({ limit: 10, labels: { n: "2" } })).map((r) => r.sagaId)).toEqual(["l2"]);
      expect(await store.list({ limit: 10, status: "COMPLETED" })).toEqual([]);
    });

    it("counts sagas by status", async () => {
      const failed = record("c1");
      failed.state = { ...failed.state, status: "FAILED" };
      await store.insert(failed, []);
      await store.insert(record("c2"), []);
      expect(await store.countByStatus("FAILED")).toBe(1);
      expect(await store.countByStatus("RUNNING")).toBe(1);
      expect(await store.countByStatus("COMPLETED")).toBe(0);
    });

    it("finds due sagas by wake time and partition, and active ones by id", async () => {
      const at = (
        id: string,
        wake: number | null,
        partition: number,
        status: SagaRecord["state"]["status"] = "RUNNING",
      ) => {
        const r = record(id, { partition });
        r.state = { ...r.state, nextWakeAt: wake, status };
        return r;
      };
      await store.insert(at("d1", 50, 1), []);
      await store.insert(at("d2", 10, 2), []);
      await store.insert(at("d3", 500, 1), []);
      await store.insert(at("d4", null, 1), []);
      await store.insert(at("d5", null, 1, "COMPLETED"), []);
      expect((await store.findDue(100, null, 10)).map((r) => r.sagaId)).toEqual(["d2", "d1"]);
      expect((await store.findDue(100, new Set([1]), 10)).map((r) => r.sagaId)).toEqual(["d1"]);
      expect((await store.findActive(new Set([1]), 10, "")).map((r) => r.sagaId)).toEqual(["d1", "d3", "d4"]);
      expect((await store.findActive(null, 2, "d1")).map((r) => r.sagaId)).toEqual(["d2", "d3"]);
    });

    it("stamps a claimed partition's unfinished sagas, so the old owner's writes are refused", async () => {
      await store.insert(record("f1", { partition: 7, fence: 3 }), []);
      await store.claimPartitions([7], 9);
      const claimed = await store.get("f1");
      expect(claimed?.fence).toBe(9);
      expect(claimed?.version).toBe(1);
      expect(await store.update(record("f1", { partition: 7, fence: 3, version: 2 }), 1, [])).toBe(false);
      expect(await store.update(record("f1", { partition: 7, fence: 9, version: 2 }), 1, [])).toBe(true);
    });

    it("stamps several partitions with one fence in one claim, and leaves the others alone", async () => {
      await store.insert(record("m1", { partition: 21, fence: 3 }), []);
      await store.insert(record("m2", { partition: 22, fence: 5 }), []);
      await store.insert(record("m3", { partition: 23, fence: 4 }), []);
      await store.claimPartitions([21, 22], 12);
      expect((await store.get("m1"))?.fence).toBe(12);
      expect((await store.get("m2"))?.fence).toBe(12);
      expect((await store.get("m3"))?.fence).toBe(4);
      // Both fence records moved: an ex-owner's late insert into either is caught.
      expect(await store.insert(record("late22", { partition: 22, fence: 5 }), [])).toEqual({
        inserted: true,
        newerFence: 12,
      });
    });

    it("tells an ex-owner whose insert lands after a newer claim to leave the saga alone", async () => {
      await store.claimPartitions([8], 20);
      const late = await store.insert(record("late", { partition: 8, fence: 11 }), []);
      expect(late).toEqual({ inserted: true, newerFence: 20 });
      expect((await store.get("late"))?.sagaId).toBe("late");
      expect(await store.insert(record("current", { partition: 8, fence: 20 }), [])).toEqual({
        inserted: true,
      });
    });

    it("keeps each saga's outcome apart when many writes of many sagas go out together", async () => {
      const ids = Array.from({ length: 30 }, (_, i) => `g${i}`);
      await Promise.all(ids.map((id) => store.insert(record(id), [event(id, 1)])));
      // Even sagas are written at their current version, odd ones at a stale one.
      const results = await Promise.all(
        ids.map((id, i) =>
          store.update(record(id, { version: 1, eventSeq: 2 }), i % 2 === 0 ? 0 : 5, [event(id, 2)]),
        ),
      );
      expect(results).toEqual(ids.map((_, i) => i % 2 === 0));
      for (const [i, id] of ids.entries()) {
        expect((await store.get(id))?.version).toBe(i % 2 === 0 ? 1 : 0);
        expect((await store.events(id, 0, 10)).map((e) => e.sequence)).toEqual(i % 2 === 0 ? [1, 2] : [1]);
      }
    });
  });
}
