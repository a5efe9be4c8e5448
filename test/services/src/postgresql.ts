import { execFile } from "node:child_process";
import { chmod, chown, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { findPostgresBinDir } from "./binaries.js";
import { freePort } from "./free-port.js";
import { ManagedProcess } from "./managed-process.js";

// A throwaway PostgreSQL cluster for FerretDB: initdb in a temp dir, trust auth,
// listening on 127.0.0.1 only (its unix socket in the same dir). PostgreSQL
// refuses to run as root, so as root it runs as the `postgres` user.

const run = promisify(execFile);

const MAX_CONNECTIONS = 300;

/**
 * Settings for a test bed that must survive SIGKILL without losing a commit
 * (fsync and synchronous_commit stay on), sized for several coordinators'
 * FerretDB pools, with checkpoints rare enough not to stall a benchmark.
 */
// biome-ignore format: one setting per line
const SETTINGS = [
  "listen_addresses=127.0.0.1",
  `max_connections=${MAX_CONNECTIONS}`,
  "shared_buffers=256MB",
  "wal_buffers=16MB",
  "max_wal_size=2GB",
  "checkpoint_timeout=15min",
  "fsync=on",
  "synchronous_commit=on",
  "full_page_writes=on",
  "huge_pages=off",
  "log_min_messages=warning",
];

export interface LocalPostgres {
  process: ManagedProcess;
  port: number;
  /** e.g. "PostgreSQL 15.18" */
  version: string;
  /** Connection URL of `database` as the superuser `postgres` (no password: trust auth). */
  url: string;
  /** max_connections of the server. */
  maxConnections: number;
}

/** The bin dir of a local PostgreSQL (initdb, postgres), or undefined when there is none. */
export const postgresBinDir = findPostgresBinDir;

/**
 * Initializes a cluster under `dir` (which must exist), starts it on a free
 * port and creates `database`. The returned process restarts on the same port and data.
 */
export async function startLocalPostgres(
  binDir: string,
  dir: string,
  database: string,
): Promise<LocalPostgres> {
  const user = await runAsUser();
  const root = join(dir, "postgresql");
  const data = join(root, "data");
  await mkdir(root, { mode: 0o700 });
  if (user) {
    await chmod(dir, 0o711); // let the postgres user reach its own subdir
    await chown(root, user.uid, user.gid);
  }
  const as = user ? { uid: user.uid, gid: user.gid } : {};
  const env = { ...process.env, LC_ALL: "C" };
  // --no-sync: the files initdb writes need no fsync for a test bed; the server itself runs with fsync on.
  // biome-ignore format: one flag and its value per line
  await run(join(binDir, "initdb"), [
    "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
  ], { ...as, env }).catch((error: { stderr?: string; message: string }) => {
    throw new Error(`initdb failed: ${error.stderr?.trim() || error.message}`);
  });

  const port = await freePort();
  const settings = [...SETTINGS, `port=${port}`, `unix_socket_directories=${root}`];
  const postgres = new ManagedProcess({
    name: "postgres",
    command: join(binDir, "postgres"),
    args: ["-D", data, ...settings.flatMap((s) => ["-c", s])],
    env,
    ...as,
    stopSignal: "SIGINT", // "fast shutdown": SIGTERM would wait for FerretDB's connections to close
    ready: () => pgIsReady(binDir, port),
  });
  await postgres.start();
  await run(join(binDir, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", database], {
    env,
  }).catch(async (error: { stderr?: string; message: string }) => {
    await postgres.stop();
    throw new Error(`createdb ${database} failed: ${error.stderr?.trim() || error.message}`);
  });
  const { stdout } = await run(join(binDir, "postgres"), ["--version"]);
  const version = stdout.match(/PostgreSQL\)?\s+([\d.]+)/)?.[1];
  return {
    process: postgres,
    port,
    version: `PostgreSQL ${version ?? "(unknown version)"}`,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    maxConnections: MAX_CONNECTIONS,
  };
}

async function pgIsReady(binDir: string, port: number): Promise<void> {
  await run(join(binDir, "pg_isready"), [
    "-q",
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    "postgres",
  ]).catch(() => {
    throw new Error(`PostgreSQL on 127.0.0.1:${port} does not accept connections yet`);
  });
}

/** As root: the `postgres` user's ids (PostgreSQL will not run as root); otherwise undefined (run as ourselves). */
async function runAsUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    throw new Error(
      "PostgreSQL refuses to run as root and there is no `postgres` user; install Debian's postgresql package (it creates one): bash scripts/install-test-deps.sh",
    );
  }
}
