import { readFileSync } from "node:fs";
import { type ChannelCredentials, credentials, experimental, ServerCredentials } from "@grpc/grpc-js";
import { ReloadingCertificateProvider } from "./reloading-certificate-provider.js";

/** Certificate files of one side of a TLS connection (PEM). */
export interface TlsFiles {
  /** This side's certificate chain; with `key`, its identity. */
  cert?: string;
  key?: string;
  /** CA bundle that the other side's certificate must chain to. */
  ca?: string;
}

/** How often certificate files are re-read, so rotated certificates take effect without a restart. */
export const DEFAULT_TLS_REFRESH_MS = 60_000;

/**
 * Server credentials: plaintext without a certificate, else TLS; with a CA,
 * client certificates are asked for and verified (and required when
 * `requireClientCert`). Files are re-read every `refreshMs` and on
 * reloadTlsCertificates(), so a rotated certificate takes effect without a restart.
 */
export function tlsServerCredentials(
  files: TlsFiles,
  requireClientCert = Boolean(files.ca),
  refreshMs = DEFAULT_TLS_REFRESH_MS,
): ServerCredentials {
  if (!files.cert || !files.key) {
    if (requireClientCert)
      throw new Error("client certificates can only be required over TLS: set a certificate and key");
    return ServerCredentials.createInsecure();
  }
  if (requireClientCert && !files.ca)
    throw new Error("requiring client certificates needs a CA to verify them");
  readable(files);
  const identity = new ReloadingCertificateProvider({ cert: files.cert, key: files.key }, refreshMs);
  const ca = files.ca ? new ReloadingCertificateProvider({ ca: files.ca }, refreshMs) : null;
  // grpc-js 1.14 declares the first parameter as the CA provider, but its
  // implementation uses it as the identity provider (and the second, which may
  // be null, as the CA): pass them in the order the implementation reads them.
  return experimental.createCertificateProviderServerCredentials(identity, ca, requireClientCert);
}

/**
 * Credentials to dial a TLS server whose certificate chains to `files.ca`
 * (the system roots without it), presenting `files.cert` when given, or
 * plaintext when `tls` is false.
 */
export function tlsChannelCredentials(
  tls: boolean,
  files: TlsFiles,
  refreshMs = DEFAULT_TLS_REFRESH_MS,
): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if (Boolean(files.cert) !== Boolean(files.key))
    throw new Error("a client certificate needs both its certificate and key file");
  readable(files);
  if (!files.ca) {
    return credentials.createSsl(
      null,
      files.key ? readFileSync(files.key) : null,
      files.cert ? readFileSync(files.cert) : null,
    );
  }
  const ca = new ReloadingCertificateProvider({ ca: files.ca }, refreshMs);
  const identity =
    files.cert && files.key
      ? new ReloadingCertificateProvider({ cert: files.cert, key: files.key }, refreshMs)
      : null;
  return experimental.createCertificateProviderChannelCredentials(ca, identity);
}

/** Fails at start, naming the file, rather than at the first handshake. */
function readable(files: TlsFiles): void {
  for (const [what, file] of Object.entries(files)) {
    if (!file) continue;
    try {
      readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read TLS ${what} file ${file}: ${(err as Error).message}`);
    }
  }
}
