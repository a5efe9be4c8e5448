import { describe, expect, it } from "vitest";
import { parseListenAddress } from "./listen-address.js";
import { assertStepNames } from "./step-name.js";

describe("parseListenAddress", () => {
  it("splits host and port, IPv6 in brackets", () => {
    expect(parseListenAddress("127.0.0.1:0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseListenAddress("[::1]:50051")).toEqual({ host: "[::1]", port: 50051 });
    expect(parseListenAddress("0.0.0.0:8080")).toEqual({ host: "0.0.0.0", port: 8080 });
  });

  it("rejects anything else with the expected form in the message", () => {
    for (const bad of ["50051", "host:", "host:99999", ":80", "a:b:c"]) {
      expect(() => parseListenAddress(bad)).toThrow(/host:port/);
    }
  });
});

describe("assertStepNames", () => {
  it("accepts protocol step names and lists the bad ones", () => {
    expect(() => assertStepNames(["reserve", "conformance.effects", "a-b_c"])).not.toThrow();
    expect(() => assertStepNames(["ok", "not ok", "x".repeat(65)])).toThrow(/bad: not ok, x{65}$/);
    expect(() => assertStepNames([])).toThrow(/at least one step/);
  });
});
