import { join } from "node:path";
import { findOnPath } from "./binaries.js";
import { freePort } from "./free-port.js";
import { etcdIsHealthy } from "./probes.js";
import type { RunningService } from "./running-service.js";
import { startSingleProcessService } from "./service.js";

export interface LocalEtcdOptions {
  /** Keep data here instead of in the service's temp dir (then stop() leaves it). */
  dataDir?: string;
  /** Serve clients over TLS and require client certificates from `ca` (PEM files). */
  tls?: { cert: string; key: string; ca: string };
}

/**
 * A one-member etcd on free client and peer ports with its own data dir, or
 * undefined when `etcd` is not on PATH. kill()/restart() keep ports and data.
 */
export async function startLocalEtcd(opts: LocalEtcdOptions = {}): Promise<RunningService | undefined> {
  const etcd = findOnPath("etcd");
  if (!etcd) return undefined;
  return startSingleProcessService("saga-test-etcd-", async (tempDir) => {
    const [clientPort, peerPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const client = `${opts.tls ? "https" : "http"}://127.0.0.1:${clientPort}`;
    // With TLS the health probe reads the plain-HTTP metrics listener instead.
    const metrics = `http://127.0.0.1:${metricsPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    // biome-ignore format: one flag and its value per line
    const args = [
      "--name", "saga-test", "--data-dir", opts.dataDir ?? join(tempDir, "data"),
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `saga-test=${peer}`, "--initial-cluster-state", "new",
      "--logger", "zap", "--log-level", "error",
    ];
    if (opts.tls) {
      // biome-ignore format: one flag and its value per line
      args.push(
        "--cert-file", opts.tls.cert, "--key-file", opts.tls.key,
        "--trusted-ca-file", opts.tls.ca, "--client-cert-auth",
        "--listen-metrics-urls", metrics,
      );
    }
    // etcd reads ETCD_* variables as flags; keep ours (e.g. ETCD_ENDPOINTS) away from it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("ETCD_")));
    return {
      spec: {
        name: "etcd",
        command: etcd,
        args,
        env,
        ready: () => etcdIsHealthy(opts.tls ? metrics : client),
      },
      fields: {
        url: client,
        kind: "etcd",
        description: `etcd (local ${etcd}) on 127.0.0.1:${clientPort}`,
        durable: true,
      },
    };
  });
}
