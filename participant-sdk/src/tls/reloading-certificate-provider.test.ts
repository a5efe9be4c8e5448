import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ReloadingCertificateProvider, reloadTlsCertificates } from "./reloading-certificate-provider.js";

const dir = mkdtempSync(path.join(tmpdir(), "reload-certs-"));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const nextTick = () => new Promise((r) => process.nextTick(r));

describe("ReloadingCertificateProvider", () => {
  it("tells a new listener the current files on the next tick, and every listener what changed on reload", async () => {
    const cert = file("a.crt", "cert-1");
    const key = file("a.key", "key-1");
    const provider = new ReloadingCertificateProvider({ cert, key }, 60_000);
    const seen: string[] = [];
    const listener = (u: { certificate: Buffer; privateKey: Buffer } | null) =>
      seen.push(`${u?.certificate.toString()}/${u?.privateKey.toString()}`);
    provider.addIdentityCertificateListener(listener);
    expect(seen).toEqual([]);
    await nextTick();
    expect(seen).toEqual(["cert-1/key-1"]);

    expect(provider.reload()).toBe(false);
    writeFileSync(cert, "cert-2");
    writeFileSync(key, "key-2");
    expect(reloadTlsCertificates()).toBe(1);
    expect(seen).toEqual(["cert-1/key-1", "cert-2/key-2"]);
    provider.removeIdentityCertificateListener(listener);
  });

  it("keeps the last good contents while a file cannot be read (a rotation caught half-way)", async () => {
    const ca = file("ca.crt", "ca-1");
    const provider = new ReloadingCertificateProvider({ ca }, 60_000);
    const seen: string[] = [];
    const listener = (u: { caCertificate: Buffer } | null) => seen.push(String(u?.caCertificate));
    provider.addCaCertificateListener(listener);
    await nextTick();
    rmSync(ca);
    expect(provider.reload()).toBe(false);
    writeFileSync(ca, "ca-2");
    expect(provider.reload()).toBe(true);
    expect(seen).toEqual(["ca-1", "ca-2"]);
    provider.removeCaCertificateListener(listener);
  });

  it("re-reads on reloadTlsCertificates() only the providers a server or channel listens to", () => {
    const ca = file("unused.crt", "x");
    const unused = new ReloadingCertificateProvider({ ca }, 60_000);
    writeFileSync(ca, "y");
    expect(reloadTlsCertificates()).toBe(0);
    expect(unused.reload()).toBe(true);
  });
});
