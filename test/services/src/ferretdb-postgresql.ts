import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { findFerretdb, findPostgresBinDir, repoRoot } from "./binaries.js";
import { freePort } from "./free-port.js";
import { ManagedProcess } from "./managed-process.js";
import { startLocalPostgres } from "./postgresql.js";
import { mongoAnswersQueries } from "./probes.js";
import type { RunningService } from "./running-service.js";
import { localService, withFreshPorts } from "./service.js";

// FerretDB (PostgreSQL handler) in front of a throwaway PostgreSQL cluster: a
// durable MongoDB-wire server. Each of the two processes can be killed and
// restarted on its own (parts.postgresql, parts.ferretdb), on the same port and data.

const DATABASE = "ferretdb";
/**
 * FerretDB's PostgreSQL pool (default 50). FerretDB 1.x holds one connection
 * while an update's query is open and takes a second to write, and each open
 * cursor holds one: with 50, fifty concurrent updates deadlock it (seen in the
 * integration suite: every insert and update hung for good). Leave headroom
 * below max_connections for maintenance connections.
 */
const POOL_MAX_CONNS_HEADROOM = 20;

/** PEM files for FerretDB's TLS listener; with `ca`, client certificates are verified against it. */
export interface FerretdbTls {
  cert: string;
  key: string;
  ca?: string;
}

/**
 * FerretDB on PostgreSQL, or undefined when FerretDB or PostgreSQL is not
 * installed. With `tls`, FerretDB also listens with TLS on a port of its own
 * (`tlsUrl`); the plaintext `url` stays for readiness probes.
 */
export async function startFerretdbOnPostgres(
  opts: { tls?: FerretdbTls } = {},
): Promise<(RunningService & { tlsUrl?: string }) | undefined> {
  const ferretdb = findFerretdb();
  const binDir = findPostgresBinDir();
  if (!ferretdb || !binDir) return undefined;
  const version = await ferretdbVersion(ferretdb);
  return withFreshPorts(async () => {
    const tempDir = await mkdtemp(join(tmpdir(), "saga-test-ferretdb-pg-"));
    const started: ManagedProcess[] = [];
    try {
      const postgres = await startLocalPostgres(binDir, tempDir, DATABASE);
      started.push(postgres.process);
      const stateDir = join(tempDir, "ferretdb-state");
      await mkdir(stateDir);
      const [port, debugPort] = [await freePort(), await freePort()];
      const uri = `mongodb://127.0.0.1:${port}/`;
      const tls = opts.tls;
      const tlsPort = tls ? await freePort() : undefined;
      // biome-ignore format: one flag and its value per line
      const tlsArgs = tls
        ? [
            `--listen-tls=127.0.0.1:${tlsPort}`, `--listen-tls-cert-file=${tls.cert}`,
            `--listen-tls-key-file=${tls.key}`, ...(tls.ca ? [`--listen-tls-ca-file=${tls.ca}`] : []),
          ]
        : [];
      // biome-ignore format: one flag and its value per line
      const args = [
        "--handler=postgresql",
        `--postgresql-url=${postgres.url}?pool_max_conns=${postgres.maxConnections - POOL_MAX_CONNS_HEADROOM}`,
        `--listen-addr=127.0.0.1:${port}`, `--debug-addr=127.0.0.1:${debugPort}`,
        "--telemetry=disable", `--state-dir=${stateDir}`, "--log-level=warn", ...tlsArgs,
      ];
      const front = new ManagedProcess({
        name: "ferretdb",
        command: ferretdb,
        args,
        ready: () => mongoAnswersQueries(uri),
      });
      await front.start();
      started.push(front);
      const where = ferretdb.startsWith(repoRoot) ? relative(repoRoot, ferretdb) : ferretdb;
      const service = localService(
        {
          url: uri,
          kind: "ferretdb-postgresql",
          description: `FerretDB ${version} on ${postgres.version} (local ${where}) on 127.0.0.1:${port}`,
          durable: true,
        },
        started,
        { tempDir, parts: { postgresql: postgres.process, ferretdb: front } },
      );
      return tlsPort ? Object.assign(service, { tlsUrl: `mongodb://127.0.0.1:${tlsPort}/` }) : service;
    } catch (error) {
      for (const p of started.reverse()) await p.stop();
      await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
  });
}

/**
 * "v1.24.2", from the first line of `ferretdb --version` ("version: v1.24.2"),
 * plus a note when scripts/install-test-deps.sh built it with our patches.
 */
async function ferretdbVersion(ferretdb: string): Promise<string> {
  const { stdout } = await promisify(execFile)(ferretdb, ["--version"]);
  const version = stdout.match(/^version:\s*(\S+)/m)?.[1] ?? "(unknown version)";
  return existsSync(`${ferretdb}.patches`) ? `${version} + scripts/ferretdb patches` : version;
}
