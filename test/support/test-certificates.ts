import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** PEM files of one identity. */
export interface IssuedCert {
  cert: string;
  key: string;
}

export interface TestCa extends IssuedCert {
  /** A certificate for `cn`, valid for serving and calling on 127.0.0.1 / localhost. */
  issue(cn: string): IssuedCert;
}

/**
 * Certificate authorities made for one test run with the `openssl` CLI
 * (P-256 keys, valid one day), in a temp dir removed by `cleanup()`.
 */
export function testCertificates(): { ca(name: string): TestCa; dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "saga-tls-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const newKey = (file: string) =>
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file);
  return {
    dir,
    ca(name) {
      const ca = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
      newKey(ca.key);
      openssl("req", "-x509", "-new", "-key", ca.key, "-out", ca.cert, "-subj", `/CN=${name}`, "-days", "1");
      return {
        ...ca,
        issue(cn) {
          const base = path.join(dir, `${name}-${cn}`);
          const issued = { cert: `${base}.crt`, key: `${base}.key` };
          newKey(issued.key);
          openssl("req", "-new", "-key", issued.key, "-out", `${base}.csr`, "-subj", `/CN=${cn}`);
          writeFileSync(
            `${base}.ext`,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
          );
          openssl(
            "x509",
            "-req",
            "-in",
            `${base}.csr`,
            "-CA",
            ca.cert,
            "-CAkey",
            ca.key,
            "-CAcreateserial",
            "-out",
            issued.cert,
            "-days",
            "1",
            "-extfile",
            `${base}.ext`,
          );
          return issued;
        },
      };
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
