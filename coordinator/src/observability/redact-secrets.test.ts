import { describe, expect, it } from "vitest";
import { redactingLogger, redactSecrets } from "./redact-secrets.js";

describe("redactSecrets", () => {
  it("hides the user:password part of every URI, and nothing else", () => {
    expect(redactSecrets("mongodb://app:s3cr3t@db-1:27017,db-2:27017/sagas?tls=true")).toBe(
      "mongodb://***@db-1:27017,db-2:27017/sagas?tls=true",
    );
    expect(redactSecrets("etcd http://root:PASSWORD@10.0.0.1:2379 and https://u@h:1 down")).toBe(
      "etcd http://***@10.0.0.1:2379 and https://***@h:1 down",
    );
    expect(redactSecrets("Name resolution failed for target dns:root:PASSWORD@10.0.0.1:2379")).toBe(
      "Name resolution failed for target dns:***@10.0.0.1:2379",
    );
    expect(redactSecrets("mongodb+srv://cluster0.example.net/x and a@b.c mail")).toBe(
      "mongodb+srv://cluster0.example.net/x and a@b.c mail",
    );
  });

  it("scrubs messages, string arguments and errors (message and stack) in log lines", () => {
    const lines: string[] = [];
    const logger = redactingLogger({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const err = new Error("connect ECONNREFUSED mongodb://app:s3cr3t@db:27017/x");
    logger.child({ node: "n1" }).error({ err }, "store down at %s", "http://root:hunter2@etcd:2379");
    logger.warn("plain http://u:pw@h:1 message");
    const text = lines.join("");
    expect(text).not.toMatch(/s3cr3t|hunter2|u:pw/);
    expect(text).toContain("mongodb://***@db:27017/x");
    expect(text).toContain("store down at http://***@etcd:2379");
    expect(JSON.parse(lines[0] as string).err.stack).toContain("mongodb://***@db");
  });
});
