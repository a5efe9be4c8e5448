import { describe, expect, it } from "vitest";
import { mongoClientOptions } from "./mongo-client-options.js";

describe("mongoClientOptions", () => {
  it("bounds every wait when the URI sets nothing", () => {
    const options = mongoClientOptions("mongodb://127.0.0.1:27017/");
    expect(options.socketTimeoutMS).toBeGreaterThan(0);
    expect(options.serverSelectionTimeoutMS).toBeGreaterThan(0);
    expect(options.heartbeatFrequencyMS).toBeGreaterThan(0);
    expect(options.connectTimeoutMS).toBeGreaterThan(0);
    expect(options.maxIdleTimeMS).toBeGreaterThan(0);
  });

  it("leaves a setting the URI gives to the URI, whatever its case", () => {
    const options = mongoClientOptions("mongodb://h:1/db?sockettimeoutms=0&serverSelectionTimeoutMS=900");
    expect(options).not.toHaveProperty("socketTimeoutMS");
    expect(options).not.toHaveProperty("serverSelectionTimeoutMS");
    expect(options.heartbeatFrequencyMS).toBeGreaterThan(0);
  });
});
