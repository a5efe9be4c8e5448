import { SagaClient, saga } from "@saga-coordinator/participant-sdk";
import { SagaStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness } from "../support/coordinator-harness.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";

// SagaClient.waitFor used to leave its WatchSaga stream as soon as it saw the
// terminal event, one stream reset per wait. Node's HTTP/2 server closes a
// connection whose client resets more than 1000 streams in a burst (then ~33/s):
// after ~1100 waits every call on the client's channel failed with INTERNAL
// "Received RST_STREAM with code 2 ... Session closed with error code 2".
// Waiting on sagas that have already ended is the fastest way to make many waits,
// so the server's refill rate cannot hide the fault.

const WAITS = 3000;
const IN_FLIGHT = 50;

describe("SagaClient: many waits on one channel (dev coordinator in process)", () => {
  let h: Harness;
  let p: RecordingParticipant;
  let client: SagaClient;

  beforeAll(async () => {
    h = await startHarness();
    p = await startRecordingParticipant({ reserve: {}, charge: {} });
    client = new SagaClient({ address: h.node.address });
  });
  afterAll(async () => {
    client?.close();
    await h?.close();
    await p?.stop();
  });

  it(`${WAITS} waitFor calls complete and the channel stays usable`, async () => {
    const ids: string[] = [];
    for (let i = 0; i < IN_FLIGHT; i++) {
      const { saga: s } = await client.start(
        saga("many-waits").step("reserve", p.address).step("charge", p.address),
      );
      ids.push(s.sagaId);
    }
    let next = 0;
    const statuses = new Map<SagaStatus, number>();
    const worker = async () => {
      while (next < WAITS) {
        const sagaId = ids[next++ % ids.length] as string;
        const done = await client.waitFor(sagaId, { timeoutMs: 60_000 });
        statuses.set(done.status, (statuses.get(done.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    expect(Object.fromEntries(statuses)).toEqual({ [SagaStatus.SAGA_STATUS_COMPLETED]: WAITS });
    // The same connection still answers, and a full watch still replays and ends.
    const events = [];
    for await (const event of client.watch(ids[0] as string)) events.push(event);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
    expect((await client.get(ids[0] as string)).status).toBe(SagaStatus.SAGA_STATUS_COMPLETED);
  });
});
