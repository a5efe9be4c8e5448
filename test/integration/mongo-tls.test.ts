import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { SagaStatus } from "@saga-coordinator/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFerretdbOnPostgres } from "../services/src/index.js";
import { step } from "../support/coordinator-harness.js";
import { startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { type RecordingParticipant, startRecordingParticipant } from "../support/recording-participant.js";
import { type TestCa, testCertificates } from "../support/test-certificates.js";
import { spawnTracked } from "../support/tracked-process.js";

// The coordinator -> MongoDB hop over TLS, configured only through the URI's
// driver options (tls, tlsCAFile, tlsCertificateKeyFile): a MongoDB-wire server
// that requires TLS and verifies client certificates (FerretDB's TLS listener)
// takes a node with the right CA and certificate, and refuses plaintext, an
// untrusted server certificate and a missing client certificate.

const MAIN = path.resolve(import.meta.dirname, "../../coordinator/dist/cli/main.js");

describe("MongoDB over TLS", () => {
  const certs = testCertificates();
  let ca: TestCa;
  let clientPem: string;
  let store: Awaited<ReturnType<typeof startFerretdbOnPostgres>>;
  let tlsUrl: string;
  let p: RecordingParticipant;

  beforeAll(async () => {
    ca = certs.ca("mongo-ca");
    const server = ca.issue("mongo");
    const client = ca.issue("coordinator");
    // The driver takes the client certificate and its key in one PEM file.
    clientPem = path.join(certs.dir, "coordinator.pem");
    writeFileSync(clientPem, readFileSync(client.cert, "utf8") + readFileSync(client.key, "utf8"));
    store = await startFerretdbOnPostgres({ tls: { ...server, ca: ca.cert } });
    if (!store?.tlsUrl)
      throw new Error("this test needs FerretDB and PostgreSQL: bash scripts/install-test-deps.sh");
    tlsUrl = store.tlsUrl;
    p = await startRecordingParticipant({ a: {} });
  });
  afterAll(async () => {
    await p?.stop();
    await store?.stop();
    certs.cleanup();
  });

  const database = () => `tls_${randomUUID().slice(0, 8)}`;

  it("runs sagas on a store reached over TLS with a client certificate", async () => {
    const uri = `${tlsUrl}?tls=true&tlsCAFile=${ca.cert}&tlsCertificateKeyFile=${clientPem}`;
    // biome-ignore format: one flag and its value per line
    const node = await startCoordinatorProcess([
      "start", "--allow-direct-participant-addresses", "--listen", `127.0.0.1:${await freePort()}`,
      "--mongodb-uri", uri, "--mongodb-database", database(),
    ]);
    try {
      await call(node.client.startSaga, node.client, {
        sagaId: "over-tls",
        sagaType: "t",
        labels: {},
        steps: [step("a", p.address)],
      });
      for (;;) {
        const res = await call(node.client.getSaga, node.client, {
          sagaId: "over-tls",
          includeHistory: false,
        });
        if (res.saga?.status === SagaStatus.SAGA_STATUS_COMPLETED) break;
        expect(res.saga?.status).toBe(SagaStatus.SAGA_STATUS_RUNNING);
        await new Promise((r) => setTimeout(r, 25));
      }
    } finally {
      await node.kill("SIGKILL");
    }
  });

  /** Starts a node on `uri`; it must exit without ever becoming ready. Returns what it printed. */
  async function refusedStart(uri: string): Promise<string> {
    // biome-ignore format: one flag and its value per line
    const proc = spawnTracked(process.execPath, [
      MAIN, "start", "--listen", `127.0.0.1:${await freePort()}`, "--mongodb-uri", uri, "--mongodb-database", database(),
    ]);
    const code = await new Promise<number | null>((resolve) => proc.child.once("exit", (c) => resolve(c)));
    expect(code).not.toBe(0);
    expect(proc.output()).not.toContain("coordinator ready");
    return proc.output();
  }

  it("refuses to run when the store's TLS cannot be verified or the hop is plaintext", async () => {
    const rogue = certs.ca("rogue-ca");
    const outputs = await Promise.all([
      refusedStart(tlsUrl), // plaintext to a TLS port
      refusedStart(`${tlsUrl}?tls=true&tlsCAFile=${rogue.cert}&tlsCertificateKeyFile=${clientPem}`),
      refusedStart(`${tlsUrl}?tls=true&tlsCAFile=${ca.cert}`), // no client certificate
    ]);
    const where = `cannot connect to MongoDB at ${tlsUrl.slice("mongodb://".length, -1)} (--mongodb-uri)`;
    for (const output of outputs) expect(output).toContain(where);
    expect(outputs[1]).toContain("unable to verify the first certificate; check the URI's tlsCAFile");
    expect(outputs[2]).toContain("certificate required");
  });
});
