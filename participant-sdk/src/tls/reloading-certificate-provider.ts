import { readFileSync } from "node:fs";
import type { experimental } from "@grpc/grpc-js";

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** Providers with listeners, i.e. in use by a server or channel: what reloadTlsCertificates() re-reads. */
const inUse = new Set<ReloadingCertificateProvider>();

/**
 * Certificate files for grpc-js, read at start, every `refreshMs`, and on
 * reloadTlsCertificates() (a coordinator calls it on SIGHUP), so a rotated
 * certificate takes effect without a restart. grpc-js's own
 * FileWatcherCertificateProvider re-reads on its interval only; this one can
 * be told to re-read now. A file that cannot be read keeps the last good
 * contents: a rotation caught half-written does not take TLS down.
 */
export class ReloadingCertificateProvider implements experimental.CertificateProvider {
  private ca: Buffer | null = null;
  private identity: { certificate: Buffer; privateKey: Buffer } | null = null;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly files: { cert?: string; key?: string; ca?: string },
    private readonly refreshMs: number,
  ) {
    this.reload();
  }

  /** Reads the files again; true when something changed (listeners have been told). */
  reload(): boolean {
    let changed = false;
    const { cert, key, ca } = this.files;
    if (ca) {
      const next = readOrNull(ca);
      if (next && !this.ca?.equals(next)) {
        this.ca = next;
        changed = true;
        for (const listener of this.caListeners) listener({ caCertificate: next });
      }
    }
    if (cert && key) {
      const certificate = readOrNull(cert);
      const privateKey = readOrNull(key);
      const same =
        this.identity?.certificate.equals(certificate ?? Buffer.alloc(0)) &&
        this.identity.privateKey.equals(privateKey ?? Buffer.alloc(0));
      if (certificate && privateKey && !same) {
        this.identity = { certificate, privateKey };
        changed = true;
        for (const listener of this.identityListeners) listener(this.identity);
      }
    }
    return changed;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    this.inUseChanged();
    // Later, not now: grpc-js registers its watcher only after adding the listener.
    const ca = this.ca;
    if (ca) process.nextTick(() => listener({ caCertificate: ca }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.inUseChanged();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    this.inUseChanged();
    const identity = this.identity;
    if (identity) process.nextTick(() => listener(identity));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.inUseChanged();
  }

  /** Re-reads on the interval only while a server or channel listens. */
  private inUseChanged(): void {
    const used = this.caListeners.size + this.identityListeners.size > 0;
    if (used && !this.timer) {
      this.timer = setInterval(() => this.reload(), this.refreshMs);
      this.timer.unref();
      inUse.add(this);
    } else if (!used && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
      inUse.delete(this);
    }
  }
}

/** Re-reads every certificate file in use now; returns how many providers saw a change. */
export function reloadTlsCertificates(): number {
  let changed = 0;
  for (const provider of inUse) if (provider.reload()) changed++;
  return changed;
}

function readOrNull(file: string): Buffer | null {
  try {
    return readFileSync(file);
  } catch {
    return null;
  }
}
