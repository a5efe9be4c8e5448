import { Metadata, status } from "@grpc/grpc-js";
import { SagaStatus } from "@saga-coordinator/proto";
import { describe, expect, it } from "vitest";
import { SagaClientError } from "./saga-client-error.js";
import { isTerminalStatus } from "./terminal-status.js";

describe("SagaClientError", () => {
  it("keeps a gRPC error's code and details", () => {
    const grpcError = Object.assign(new Error("5 NOT_FOUND: no saga x"), {
      code: status.NOT_FOUND,
      details: "no saga x",
      metadata: new Metadata(),
    });
    const err = SagaClientError.from(grpcError, "GetSaga");
    expect(err).toBeInstanceOf(SagaClientError);
    expect([err.code, err.codeName, err.details, err.method]).toEqual([
      status.NOT_FOUND,
      "NOT_FOUND",
      "no saga x",
      "GetSaga",
    ]);
    expect(err.message).toBe("GetSaga: NOT_FOUND: no saga x");
  });

  it("turns aborts into CANCELLED and anything else into UNKNOWN", () => {
    const abort = Object.assign(new Error("aborted"), { name: "AbortError" });
    expect(SagaClientError.from(abort, "ListSagas").code).toBe(status.CANCELLED);
    expect(SagaClientError.from("boom", "ListSagas")).toMatchObject({
      code: status.UNKNOWN,
      details: "boom",
    });
  });
});

describe("isTerminalStatus", () => {
  it("is true for COMPLETED, COMPENSATED and FAILED only", () => {
    const terminal = Object.values(SagaStatus)
      .filter((v): v is SagaStatus => typeof v === "number" && v >= 0)
      .filter(isTerminalStatus);
    expect(terminal.sort()).toEqual([
      SagaStatus.SAGA_STATUS_COMPLETED,
      SagaStatus.SAGA_STATUS_COMPENSATED,
      SagaStatus.SAGA_STATUS_FAILED,
    ]);
  });
});
