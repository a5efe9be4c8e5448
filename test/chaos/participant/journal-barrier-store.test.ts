import { appendFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { barrierContract } from "../../support/barrier-contract.js";
import { JournalBarrierStore, readLedger } from "./journal-barrier-store.js";

const journal = () => path.join(mkdtempSync(path.join(tmpdir(), "chaos-journal-")), "participant.journal");

barrierContract("JournalBarrierStore", () => new JournalBarrierStore(journal()));

describe("JournalBarrierStore durability and ledger", () => {
  it("replays its records after a restart and keeps the ledger entry that committed with a record", async () => {
    const file = journal();
    const first = new JournalBarrierStore(file);
    await first.insertIfAbsent({ key: "s/a", state: "executing", version: 1, owner: "o", updatedAt: 1 });
    const effect = { op: "apply" as const, key: "s/a", effectId: "e1", at: 2, pid: 7 };
    const output = new Uint8Array([1, 2, 3]);
    expect(
      await first.update(
        "s/a",
        { state: "executing", owner: "o" },
        { state: "executed", output, updatedAt: 2 },
        { effect },
      ),
    ).toBe(true);
    first.close();

    const second = new JournalBarrierStore(file);
    expect(await second.get("s/a")).toEqual({
      key: "s/a",
      state: "executed",
      version: 2,
      output,
      updatedAt: 2,
    });
    expect(readLedger(file)).toEqual([effect]);
  });

  it("writes no ledger entry when the conditional update does not match", async () => {
    const file = journal();
    const store = new JournalBarrierStore(file);
    await store.insertIfAbsent({ key: "s/a", state: "executing", version: 1, owner: "o", updatedAt: 1 });
    const effect = { op: "apply" as const, key: "s/a", effectId: "e1", at: 2, pid: 7 };
    expect(
      await store.update(
        "s/a",
        { state: "executing", owner: "other" },
        { state: "executed", updatedAt: 2 },
        { effect },
      ),
    ).toBe(false);
    expect(readLedger(file)).toEqual([]);
  });

  it("cuts a torn last line (the writer died mid-write) and appends after it cleanly", async () => {
    const file = journal();
    const store = new JournalBarrierStore(file);
    await store.insertIfAbsent({ key: "s/a", state: "tombstone", version: 1, updatedAt: 1 });
    store.close();
    appendFileSync(file, '{"record":{"key":"s/b","sta');

    const reopened = new JournalBarrierStore(file);
    expect(await reopened.get("s/b")).toBeNull();
    await reopened.insertIfAbsent({ key: "s/c", state: "tombstone", version: 1, updatedAt: 3 });
    reopened.close();
    expect(readFileSync(file, "utf8").trim().split("\n")).toHaveLength(2);
    expect(await new JournalBarrierStore(file).get("s/c")).toMatchObject({ state: "tombstone" });
  });
});
