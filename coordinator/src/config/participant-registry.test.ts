import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ParticipantRegistry, ParticipantRegistryError } from "./participant-registry.js";

const dir = mkdtempSync(path.join(tmpdir(), "participants-"));
let n = 0;
const registryFile = (text: string) => {
  const file = path.join(dir, `p${++n}.yaml`);
  writeFileSync(file, text);
  return file;
};

describe("ParticipantRegistry", () => {
  it("merges --participant flags (every namespace) with the file's entries", () => {
    const file = registryFile(
      "participants:\n  payments: { address: 'pay:7001', namespaces: [shop] }\n  ledger: { address: 'ledger:7002', tls: false }\n",
    );
    const registry = ParticipantRegistry.load({ inventory: "inv:7000" }, file);
    expect(registry.names.sort()).toEqual(["inventory", "ledger", "payments"]);
    expect(registry.get("payments")?.address).toBe("pay:7001");
    expect(registry.get("ledger")?.tls).toBe(false);
    expect(registry.allows("inventory", "anything")).toBe(true);
    expect(registry.allows("ledger", "anything")).toBe(true);
    expect(registry.allows("payments", "shop")).toBe(true);
    expect(registry.allows("payments", "default")).toBe(false);
  });

  it("refuses a name given both as a flag and in the file", () => {
    const file = registryFile("participants:\n  payments: { address: 'pay:7001' }\n");
    expect(() => ParticipantRegistry.load({ payments: "other:7001" }, file)).toThrow(
      'participant "payments" is registered twice',
    );
  });

  it("refuses one address under two names with different TLS settings (one channel per address)", () => {
    const file = registryFile(
      "participants:\n  a: { address: 'pay:7001' }\n  b: { address: 'pay:7001', tls: { serverName: pay.internal } }\n",
    );
    expect(() => ParticipantRegistry.load({}, file)).toThrow(
      'participant "b": pay:7001 is registered under another name with other TLS settings',
    );
  });

  it("names the file and every bad field", () => {
    const file = registryFile(
      "participants:\n  'bad name': { address: 'x:1' }\n  p: { address: 'nohost', extra: 1 }\n",
    );
    let message = "";
    try {
      ParticipantRegistry.load({}, file);
    } catch (err) {
      expect(err).toBeInstanceOf(ParticipantRegistryError);
      message = (err as Error).message;
    }
    expect(message).toContain(`participants file ${file} is not valid:`);
    expect(message).toContain("participants.bad name: a name is 1..128 of [A-Za-z0-9._-]");
    expect(message).not.toContain("port must be");
    expect(message).toContain("participants.p.address: must be HOST:PORT");
    expect(message).toContain("Unrecognized key");
  });

  it("reports a file that is not YAML", () => {
    const file = registryFile("participants: [unclosed");
    expect(() => ParticipantRegistry.load({}, file)).toThrow(`participants file ${file}:`);
  });
});

describe("the example registry in deploy/production", () => {
  it("is valid", () => {
    const file = path.resolve(import.meta.dirname, "../../../deploy/production/participants.yaml");
    const registry = ParticipantRegistry.load({}, file);
    expect(registry.names).toEqual(["inventory", "payment", "ledger"]);
    expect(registry.allows("ledger", "shop")).toBe(false);
    expect(registry.get("ledger")?.tls).toEqual({
      ca: "/etc/saga/tls/ledger-ca.crt",
      serverName: "ledger.finance.internal",
    });
  });
});
