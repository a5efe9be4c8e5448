import { type ClientReadableStream, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import type { WatchSagaResponse } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, step } from "../support/coordinator-harness.js";
import { latch } from "../support/latch.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// Long-lived WatchSaga streams are capped per caller and per node, so many
// open watches cannot starve a node; a slot frees when a stream ends.

describe("WatchSaga stream limits", () => {
  const release = latch();
  let p: RecordingParticipant;
  let h: Harness;
  let sagaId: string;
  const open: ClientReadableStream<WatchSagaResponse>[] = [];

  beforeAll(async () => {
    // The step waits until the test ends, so the saga stays RUNNING and its watches stay open.
    p = await startRecordingParticipant({ hold: { execute: () => release.opened.then(() => undefined) } });
    h = await startHarness({ extra: { "max-watch-streams": 3, "max-watch-streams-per-caller": 2 } });
    sagaId = (await h.start({ steps: [step("hold", p.address)] })).sagaId;
  });
  afterAll(async () => {
    for (const s of open) s.cancel();
    release.open();
    await h?.close();
    await p?.stop();
  });

  /** Opens a watch; resolves "open" once its first event arrives, or the status it was refused with. */
  function watch(forwarded = false): Promise<"open" | ServiceError> {
    const metadata = new Metadata();
    if (forwarded) metadata.set("x-saga-forwarded", "1");
    const stream = h.client.watchSaga({ sagaId, afterSequence: 0 }, metadata);
    open.push(stream);
    return new Promise((resolve) => {
      stream.once("data", () => resolve("open"));
      stream.on("error", (err: ServiceError) => resolve(err));
    });
  }

  it("refuses a caller's third stream and the node's fourth, naming the limit, and frees a slot when one ends", async () => {
    expect(await watch()).toBe("open");
    expect(await watch()).toBe("open");
    const third = await watch();
    expect((third as ServiceError).code).toBe(status.RESOURCE_EXHAUSTED);
    expect((third as ServiceError).details).toContain("limit per caller (--max-watch-streams-per-caller)");
    // A stream another node forwarded counts against the node only.
    expect(await watch(true)).toBe("open");
    const fourth = await watch(true);
    expect((fourth as ServiceError).code).toBe(status.RESOURCE_EXHAUSTED);
    expect((fourth as ServiceError).details).toContain("its limit (--max-watch-streams)");
    // Ending one stream frees its slot (the server learns of the cancel asynchronously).
    open[0]?.cancel();
    for (;;) {
      const again = await watch(true);
      if (again === "open") break;
      expect(again.code).toBe(status.RESOURCE_EXHAUSTED);
    }
  });
});
