import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";
import { call, callError } from "../support/grpc-call.js";

const MAIN = path.resolve(import.meta.dirname, "../../coordinator/dist/cli/main.js");
const run = async (args: string[], env: Record<string, string> = {}) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [MAIN, ...args], {
      env: { ...process.env, ...env },
      // Only a guard against a hung process: under CPU stress starting node took over 15 s.
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe("saga-coordinator CLI", () => {
  it("lists every flag with its environment variable in --help", async () => {
    const { code, stdout } = await run(["start", "--help"]);
    expect(code).toBe(0);
    for (const env of [
      "SAGA_LISTEN",
      "SAGA_MONGODB_URI",
      "SAGA_ETCD_ENDPOINTS",
      "SAGA_NODE_ID",
      "SAGA_PARTITIONS",
    ]) {
      expect(stdout).toContain(env);
    }
  });

  it("reads comma-separated logical participants from SAGA_PARTICIPANTS", async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const node = await startCoordinatorProcess(["dev", "--listen", listen], {
      SAGA_PARTICIPANTS: "inventory=127.0.0.1:1, payment=127.0.0.1:2",
    });
    try {
      const steps = ["inventory", "payment"].map((name) => ({
        name,
        participant: name,
        payload: Buffer.from("{}"),
        contentType: "application/json",
        dependsOn: [],
        kind: 0,
      }));
      const res = await call(node.client.startSaga, node.client, {
        sagaId: "",
        sagaType: "t",
        steps,
        labels: {},
      });
      expect(res.created).toBe(true);
      const unknown = await callError(node.client.startSaga, node.client, {
        sagaId: "",
        sagaType: "t",
        steps: [{ ...(steps[0] as (typeof steps)[number]), participant: "billing" }],
        labels: {},
      });
      expect(unknown.details).toContain("one of inventory, payment");
    } finally {
      await node.kill("SIGTERM");
    }
  });

  it.each([
    [["dev", "--listen", "nowhere"], {}, "--listen: must be HOST:PORT"],
    [["dev", "--max-steps", "lots"], {}, "--max-steps:"],
    [["dev", "--partitions", "0"], {}, "--partitions: must be at least 1"],
    [["dev"], { SAGA_LOG_LEVEL: "loud" }, "--log-level:"],
    [["start"], {}, "--mongodb-uri: is required in start mode"],
    [["start", "--mongodb-uri", "http://x"], {}, "--mongodb-uri: must be a mongodb:// or mongodb+srv:// URI"],
    [["dev", "--participant", "payment"], {}, "--participant: must be NAME=HOST:PORT"],
  ])("stops on a bad value, naming the flag: %j %j", async (args, env, message) => {
    const { code, stderr } = await run(args as string[], env as Record<string, string>);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).not.toContain("    at ");
  });

  it("never prints the credentials of a store or etcd URI, even in the error it exits with", async () => {
    const closed = await freePort();
    const { code, stdout, stderr } = await run([
      "start",
      "--listen",
      `127.0.0.1:${await freePort()}`,
      "--mongodb-uri",
      `mongodb://app:MONGO-SECRET@127.0.0.1:${closed}/?serverSelectionTimeoutMS=1000`,
      "--etcd-endpoints",
      `http://root:ETCD-SECRET@127.0.0.1:${closed}`,
    ]);
    expect(code).not.toBe(0);
    expect(stderr + stdout).not.toMatch(/MONGO-SECRET|ETCD-SECRET/);
    expect(stderr).toMatch(/saga-coordinator/);
  });
});
