import { copyFileSync } from "node:fs";
import { status } from "@grpc/grpc-js";
import { tlsChannelCredentials } from "@saga-coordinator/participant-sdk";
import { CoordinatorServiceClient } from "@saga-coordinator/proto";
import { afterAll, describe, expect, it } from "vitest";
import { type CoordinatorProcess, startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";
import { call } from "../support/grpc-call.js";
import { testCertificates } from "../support/test-certificates.js";

// A node's certificate is rotated on disk and the node is sent SIGHUP: new
// connections get the new certificate at once, without a restart and without
// waiting for --tls-refresh-ms (a day here).

describe("certificate rotation on SIGHUP", () => {
  const certs = testCertificates();
  let node: CoordinatorProcess;
  afterAll(async () => {
    await node?.kill("SIGKILL");
    certs.cleanup();
  });

  /** The status a fresh client trusting only `ca` gets from GetSaga of a saga that does not exist. */
  async function answerTrusting(ca: string): Promise<status> {
    const client = new CoordinatorServiceClient(node.address, tlsChannelCredentials(true, { ca }));
    try {
      await call(client.getSaga, client, { sagaId: "none", includeHistory: false }, 5_000);
      return status.OK;
    } catch (err) {
      return (err as { code: status }).code;
    } finally {
      client.close();
    }
  }

  it("serves the rotated certificate to new connections after SIGHUP", async () => {
    const oldCa = certs.ca("old-ca");
    const newCa = certs.ca("new-ca");
    const served = oldCa.issue("node");
    const rotated = newCa.issue("node");
    // biome-ignore format: one flag and its value per line
    node = await startCoordinatorProcess([
      "dev", "--listen", `127.0.0.1:${await freePort()}`,
      "--tls-cert", served.cert, "--tls-key", served.key, "--tls-refresh-ms", "86400000",
    ]);
    expect(await answerTrusting(oldCa.cert)).toBe(status.NOT_FOUND);
    expect(await answerTrusting(newCa.cert)).toBe(status.UNAVAILABLE);

    copyFileSync(rotated.cert, served.cert);
    copyFileSync(rotated.key, served.key);
    const reloaded = new Promise<void>((resolve) => {
      const check = () => {
        if (/"changed":1,"msg":"certificate files re-read"/.test(node.output())) resolve();
      };
      node.child.stdout?.on("data", check);
      check();
    });
    node.child.kill("SIGHUP");
    await reloaded;

    expect(await answerTrusting(newCa.cert)).toBe(status.NOT_FOUND);
    expect(await answerTrusting(oldCa.cert)).toBe(status.UNAVAILABLE);
  });
});
