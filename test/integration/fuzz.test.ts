import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import {
  CancelSagaRequest,
  GetClusterStatusRequest,
  GetSagaRequest,
  ListSagasRequest,
  ResumeSagaRequest,
  StartSagaRequest,
  StepKind,
  WatchSagaRequest,
} from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Prng, randomSeed } from "../chaos/prng.js";
import { type Harness, startHarness } from "../support/coordinator-harness.js";
import { call } from "../support/grpc-call.js";

// Random and mutated protobuf bodies for every method of the coordinator and
// admin services: merely invalid input must get a status that says so, never
// INTERNAL or UNKNOWN, and the node must keep answering. FUZZ_SEED replays a
// run; FUZZ_CASES sets the cases per method.

const SEED = Number(process.env.FUZZ_SEED ?? randomSeed());
const CASES = Number(process.env.FUZZ_CASES ?? 150);
const U64_MAX = "18446744073709551615";

/** A valid request of each method, the seed of the mutations. */
const METHODS: { path: string; stream: boolean; valid: () => Uint8Array }[] = [
  {
    path: "/saga.v1.CoordinatorService/StartSaga",
    stream: false,
    valid: () =>
      StartSagaRequest.encode({
        sagaId: "fuzz-1",
        sagaType: "t",
        steps: [
          {
            name: "a",
            participant: "127.0.0.1:9",
            payload: Buffer.from("{}"),
            contentType: "application/json",
            dependsOn: [],
            kind: StepKind.STEP_KIND_COMPENSATABLE,
          },
        ],
        labels: { k: "v" },
        deadline: new Date(Date.now() + 60_000),
      }).finish(),
  },
  {
    path: "/saga.v1.CoordinatorService/GetSaga",
    stream: false,
    valid: () => GetSagaRequest.encode({ sagaId: "fuzz-1", includeHistory: true }).finish(),
  },
  {
    path: "/saga.v1.CoordinatorService/ListSagas",
    stream: false,
    valid: () =>
      ListSagasRequest.encode({ status: 0, sagaType: "t", labels: {}, pageSize: 5, pageToken: "" }).finish(),
  },
  {
    path: "/saga.v1.CoordinatorService/CancelSaga",
    stream: false,
    valid: () => CancelSagaRequest.encode({ sagaId: "fuzz-2", reason: "x" }).finish(),
  },
  {
    path: "/saga.v1.CoordinatorService/WatchSaga",
    stream: true,
    valid: () => WatchSagaRequest.encode({ sagaId: "no-such-saga", afterSequence: 0 }).finish(),
  },
  {
    path: "/saga.v1.AdminService/ResumeSaga",
    stream: false,
    valid: () => ResumeSagaRequest.encode({ sagaId: "fuzz-3", reason: "x", overrides: [] }).finish(),
  },
  {
    path: "/saga.v1.AdminService/GetClusterStatus",
    stream: false,
    valid: () => GetClusterStatusRequest.encode({}).finish(),
  },
];

/** A varint-encoded field (wire type 0) with a value given in decimal, e.g. 2^64-1. */
function varintField(field: number, value: string): Uint8Array {
  const bytes = [field << 3];
  let v = BigInt(value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (v > 0n);
  return Uint8Array.from(bytes);
}

function mutate(rng: Prng, valid: Uint8Array): Uint8Array {
  const bytes = Uint8Array.from(valid);
  switch (rng.weighted({ random: 2, flip: 3, truncate: 2, bigVarint: 2, splice: 1 })) {
    case "random":
      return Uint8Array.from({ length: rng.int(0, 200) }, () => rng.int(0, 255));
    case "flip":
      for (let i = rng.int(1, 4); i > 0 && bytes.length > 0; i--) {
        const at = rng.int(0, bytes.length - 1);
        bytes[at] = (bytes[at] ?? 0) ^ (1 << rng.int(0, 7));
      }
      return bytes;
    case "truncate":
      return bytes.slice(0, rng.int(0, Math.max(0, bytes.length - 1)));
    case "bigVarint":
      // A legal uint64 (or an int32/enum/bool field given one) that JS numbers cannot hold.
      return Uint8Array.from([
        ...bytes,
        ...varintField(rng.int(1, 12), rng.pick([U64_MAX, "9007199254740993"])),
      ]);
    default: {
      const at = rng.int(0, bytes.length);
      const junk = Array.from({ length: rng.int(1, 16) }, () => rng.int(0, 255));
      return Uint8Array.from([...bytes.slice(0, at), ...junk, ...bytes.slice(at)]);
    }
  }
}

describe(`fuzzing every method (seed ${SEED}, ${CASES} cases each; FUZZ_SEED=${SEED} replays)`, () => {
  let h: Harness;
  let raw: Client;
  beforeAll(async () => {
    h = await startHarness({ mongoUri: inject("mongoUri") });
    raw = new Client(h.node.address, credentials.createInsecure());
  });
  afterAll(async () => {
    raw?.close();
    await h?.close();
  });

  const send = (path: string, stream: boolean, body: Uint8Array): Promise<status> =>
    new Promise((resolve) => {
      const options = { deadline: Date.now() + 5_000 };
      const identity = (b: Buffer) => b;
      if (!stream) {
        raw.makeUnaryRequest(path, identity, identity, Buffer.from(body), new Metadata(), options, (err) =>
          resolve(err ? (err as ServiceError).code : status.OK),
        );
        return;
      }
      const s = raw.makeServerStreamRequest(
        path,
        identity,
        identity,
        Buffer.from(body),
        new Metadata(),
        options,
      );
      s.on("data", () => s.cancel());
      s.on("error", (err: ServiceError) => resolve(err.code === status.CANCELLED ? status.OK : err.code));
      s.on("end", () => resolve(status.OK));
    });

  it("answers no merely invalid request with INTERNAL or UNKNOWN, and stays responsive", async () => {
    const rng = new Prng(SEED);
    const faults: string[] = [];
    const seen = new Map<string, number>();
    for (const method of METHODS) {
      const valid = method.valid();
      for (let i = 0; i < CASES; i++) {
        const body = mutate(rng, valid);
        const code = await send(method.path, method.stream, body);
        const name = `${method.path.split("/").pop()} ${status[code]}`;
        seen.set(name, (seen.get(name) ?? 0) + 1);
        if (code === status.INTERNAL || code === status.UNKNOWN)
          faults.push(`${method.path} ${status[code]} for body ${Buffer.from(body).toString("hex")}`);
      }
    }
    expect(faults, `seed ${SEED}: ${faults.slice(0, 5).join("\n")}`).toEqual([]);
    // Every method was reached with bodies it refused as well as with ones it took.
    expect([...seen.keys()].some((k) => k.endsWith("INVALID_ARGUMENT"))).toBe(true);
    const probe = await call(h.client.getSaga, h.client, {
      sagaId: "after-the-fuzz",
      includeHistory: false,
    }).catch((err: ServiceError) => err.code);
    expect(probe).toBe(status.NOT_FOUND);
  });

  it("answers a uint64 beyond 2^53 with INVALID_ARGUMENT naming the message", async () => {
    const body = Uint8Array.from([
      ...WatchSagaRequest.encode({ sagaId: "x", afterSequence: 0 }).finish(),
      ...varintField(2, U64_MAX),
    ]);
    const err = await new Promise<ServiceError>((resolve) => {
      const s = raw.makeServerStreamRequest(
        "/saga.v1.CoordinatorService/WatchSaga",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body),
        new Metadata(),
        { deadline: Date.now() + 5_000 },
      );
      s.on("error", resolve);
    });
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toContain("not a valid /saga.v1.CoordinatorService/WatchSaga message");
  });

  it("answers a string that is not valid UTF-8 with INVALID_ARGUMENT", async () => {
    // GetSagaRequest.saga_id (field 1, length-delimited) = 0xC3 0x28, an invalid two-byte sequence.
    const body = Buffer.from([0x0a, 0x02, 0xc3, 0x28]);
    const code = await new Promise<ServiceError>((resolve) =>
      raw.makeUnaryRequest(
        "/saga.v1.CoordinatorService/GetSaga",
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new Metadata(),
        { deadline: Date.now() + 5_000 },
        (err) => resolve(err as ServiceError),
      ),
    );
    expect(code.code).toBe(status.INVALID_ARGUMENT);
    expect(code.details).toContain("strings must be valid UTF-8");
  });
});
