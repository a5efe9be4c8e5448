import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import type {
  BarrierContent,
  BarrierMatch,
  BarrierRecord,
  BarrierStore,
  BarrierWriteOptions,
} from "@saga-coordinator/participant-sdk";

// A durable barrier store for one participant process: records in memory,
// every change appended to a journal file with one write() before the call
// returns, replayed on start. A SIGKILLed process loses nothing it answered.
//
// The participant's effect ledger rides in the same journal: an update that
// finishes a step (commit) may carry an `effect` entry, written in the same
// line as the barrier record, so the effect and the barrier commit together
// like a business write and its barrier record in one database transaction.
// The ledger entries are written by the step's own code and read by the chaos
// checker without looking at the barrier records.

/** One applied or undone effect, as the participant's ledger records it. */
export interface LedgerEntry {
  op: "apply" | "undo";
  /** "<saga_id>/<step>" */
  key: string;
  /** Unique per applied effect; Execute returns it in its output. */
  effectId: string;
  /** Epoch ms when the effect was committed. */
  at: number;
  /** The process that applied it. */
  pid: number;
}

/** BarrierWriteOptions with the ledger entry to commit together with the record. */
export interface EffectWriteOptions extends BarrierWriteOptions {
  effect?: LedgerEntry;
}

interface JournalLine {
  record?: StoredRecord;
  deleted?: string;
  effect?: LedgerEntry;
}

type StoredRecord = Omit<BarrierRecord, "output"> & { output?: string };

export class JournalBarrierStore implements BarrierStore {
  private readonly records = new Map<string, BarrierRecord>();
  private readonly fd: number;

  constructor(readonly path: string) {
    for (const line of readJournal(path)) {
      if (line.record) this.records.set(line.record.key, decode(line.record));
      if (line.deleted) this.records.delete(line.deleted);
    }
    this.fd = openSync(path, "a");
  }

  close(): void {
    closeSync(this.fd);
  }

  async insertIfAbsent(record: BarrierRecord): Promise<BarrierRecord | null> {
    const existing = this.records.get(record.key);
    if (existing) return copy(existing);
    this.append({ record: encode(record) });
    this.records.set(record.key, copy(record));
    return null;
  }

  async update(
    key: string,
    expected: BarrierMatch,
    content: BarrierContent,
    options?: EffectWriteOptions,
  ): Promise<boolean> {
    const existing = this.records.get(key);
    if (!existing || !matchesRecord(existing, expected)) return false;
    const next: BarrierRecord = { ...content, key, version: existing.version + 1 };
    this.append({ record: encode(next), ...(options?.effect ? { effect: options.effect } : {}) });
    this.records.set(key, copy(next));
    return true;
  }

  async delete(key: string, expected: BarrierMatch): Promise<boolean> {
    const existing = this.records.get(key);
    if (!existing || !matchesRecord(existing, expected)) return false;
    this.append({ deleted: key });
    this.records.delete(key);
    return true;
  }

  async get(key: string): Promise<BarrierRecord | null> {
    const existing = this.records.get(key);
    return existing ? copy(existing) : null;
  }

  private append(line: JournalLine): void {
    // One write() per change: a crash keeps it whole or not at all (a torn tail is cut on open).
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }
}

/** The ledger entries of a journal, in the order they were committed. */
export function readLedger(path: string): LedgerEntry[] {
  return readJournal(path).flatMap((line) => (line.effect ? [line.effect] : []));
}

/** The journal's complete lines; a torn last line (the writer died mid-write) is cut off the file. */
function readJournal(path: string): JournalLine[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  const end = text.lastIndexOf("\n") + 1;
  if (end < text.length) {
    const fd = openSync(path, "r+");
    ftruncateSync(fd, Buffer.byteLength(text.slice(0, end)));
    closeSync(fd);
  }
  return text
    .slice(0, end)
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as JournalLine);
}

function matchesRecord(record: BarrierRecord, match: BarrierMatch): boolean {
  return (
    record.state === match.state &&
    (match.version === undefined || record.version === match.version) &&
    (match.owner === undefined || record.owner === match.owner)
  );
}

function encode(record: BarrierRecord): StoredRecord {
  const { output, ...rest } = record;
  return output ? { ...rest, output: Buffer.from(output).toString("base64") } : rest;
}

function decode(stored: StoredRecord): BarrierRecord {
  const { output, ...rest } = stored;
  return output === undefined ? rest : { ...rest, output: new Uint8Array(Buffer.from(output, "base64")) };
}

function copy(record: BarrierRecord): BarrierRecord {
  return record.output ? { ...record, output: new Uint8Array(record.output) } : { ...record };
}
