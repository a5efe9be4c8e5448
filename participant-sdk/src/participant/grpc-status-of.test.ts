import { status } from "@grpc/grpc-js";
import { MongoNetworkError } from "mongodb";
import { describe, expect, it } from "vitest";
import { BarrierRefusal } from "../barrier/barrier-refusal.js";
import { BusinessFailure } from "./business-failure.js";
import { CallRejection } from "./call-rejection.js";
import { grpcStatusOf } from "./grpc-status-of.js";
import { TransientFailure } from "./transient-failure.js";

describe("grpcStatusOf", () => {
  it("follows participant.proto's outcome rules", () => {
    expect(grpcStatusOf(new BusinessFailure("out of stock"))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "out of stock",
    });
    expect(grpcStatusOf(new BarrierRefusal("hanging", "late")).code).toBe(status.ABORTED);
    expect(grpcStatusOf(new BarrierRefusal("compensated", "undone")).code).toBe(status.ABORTED);
    expect(grpcStatusOf(new BarrierRefusal("in-progress", "busy")).code).toBe(status.UNAVAILABLE);
    expect(grpcStatusOf(new BarrierRefusal("lease-lost", "lost")).code).toBe(status.UNAVAILABLE);
    expect(grpcStatusOf(new TransientFailure("later")).code).toBe(status.UNAVAILABLE);
    expect(grpcStatusOf(new CallRejection(status.INVALID_ARGUMENT, "bad key")).code).toBe(
      status.INVALID_ARGUMENT,
    );
    expect(grpcStatusOf(new MongoNetworkError("connection refused")).code).toBe(status.UNAVAILABLE);
  });

  it("never turns an unexpected error into a business answer", () => {
    const bug = Object.assign(new Error("undefined is not a function"), { code: status.ABORTED });
    expect(grpcStatusOf(bug)).toEqual({ code: status.INTERNAL, details: "undefined is not a function" });
    expect(grpcStatusOf("thrown string")).toEqual({ code: status.INTERNAL, details: "thrown string" });
  });

  it("answers DEADLINE_EXCEEDED for errors after the call's signal fired", () => {
    const controller = new AbortController();
    controller.abort();
    expect(grpcStatusOf(new Error("aborted"), controller.signal).code).toBe(status.DEADLINE_EXCEEDED);
  });
});
