import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CoordinatorProcess, startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";

// Server reflection as a user meets it: grpcurl with no .proto files lists,
// describes and calls every service of a coordinator, health included.

const run = promisify(execFile);
const GRPCURL = path.resolve(import.meta.dirname, "../../.test-services/bin/grpcurl");

describe("server reflection with grpcurl", () => {
  let node: CoordinatorProcess;
  beforeAll(async () => {
    if (!existsSync(GRPCURL)) {
      throw new Error(`${GRPCURL} is missing: bash scripts/install-test-deps.sh builds it (go install)`);
    }
    node = await startCoordinatorProcess(["dev", "--listen", `127.0.0.1:${await freePort()}`]);
  });
  afterAll(() => node?.kill("SIGKILL"));

  /** `grpcurl -plaintext [flags] <node> <args...>`: stdout and stderr together. */
  const grpcurl = async (flags: string[], ...args: string[]) => {
    const result = await run(GRPCURL, ["-plaintext", ...flags, node.address, ...args]).catch(
      (err: { stdout: string; stderr: string }) => err,
    );
    return `${result.stdout}${result.stderr}`;
  };

  it("lists the services this node serves, and only those", async () => {
    expect((await grpcurl([], "list")).trim().split("\n")).toEqual([
      "grpc.health.v1.Health",
      "saga.v1.AdminService",
      "saga.v1.CoordinatorService",
    ]);
  });

  it("describes services and messages, well-known types and map fields included", async () => {
    expect(await grpcurl([], "describe", "saga.v1.CoordinatorService")).toContain(
      "rpc StartSaga ( .saga.v1.StartSagaRequest ) returns ( .saga.v1.StartSagaResponse );",
    );
    const request = await grpcurl([], "describe", "saga.v1.StartSagaRequest");
    expect(request).toContain(".google.protobuf.Timestamp deadline = 4;");
    expect(request).toContain("map<string, string> labels = 5;");
  });

  it("calls health and the saga API without .proto files", async () => {
    expect(JSON.parse(await grpcurl([], "grpc.health.v1.Health/Check"))).toEqual({ status: "SERVING" });
    const notFound = await grpcurl(
      ["-d", '{"saga_id":"nothing-here"}'],
      "saga.v1.CoordinatorService/GetSaga",
    );
    expect(notFound).toContain("Code: NotFound");
    expect(notFound).toContain('no saga with id "nothing-here"');
  });
});
