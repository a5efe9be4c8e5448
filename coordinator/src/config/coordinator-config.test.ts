import { describe, expect, it } from "vitest";
import { parseCoordinatorConfig } from "./coordinator-config.js";

const base = {
  mode: "start",
  listen: "127.0.0.1:50051",
  "log-level": "info",
  participant: [],
  "max-steps": 100,
  "max-payload-bytes": 1024,
  "max-labels": 16,
  "poll-interval-ms": 1000,
  "lost-call-grace-ms": 1000,
  partitions: 16,
  "mongodb-uri": "mongodb://db:27017",
  "mongodb-database": "saga",
  "etcd-prefix": "/saga",
  "node-id": "n1",
  "lease-ttl-seconds": 5,
  "drain-timeout-ms": 1000,
  demo: false,
};

describe("--etcd-endpoints with a user and password in the URL", () => {
  it("takes them as the etcd login and leaves them out of the endpoints the client (and its errors) see", () => {
    const config = parseCoordinatorConfig({
      ...base,
      "etcd-endpoints": "http://root:p%40ss@etcd-1:2379,http://etcd-2:2379",
    });
    expect(config["etcd-endpoints"]).toEqual(["http://etcd-1:2379", "http://etcd-2:2379"]);
    expect(config["etcd-url-login"]).toEqual({ username: "root", password: "p@ss" });
  });

  it("changes nothing for endpoints without credentials", () => {
    const config = parseCoordinatorConfig({ ...base, "etcd-endpoints": "https://etcd-1:2379" });
    expect(config["etcd-endpoints"]).toEqual(["https://etcd-1:2379"]);
    expect(config["etcd-url-login"]).toBeUndefined();
  });
});
