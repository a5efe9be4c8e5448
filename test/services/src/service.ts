import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ManagedProcess, type ProcessSpec, ServerExitedError } from "./managed-process.js";
import {
  type BackendName,
  NotControllableError,
  type RestartOptions,
  type RunningService,
  type ServiceKind,
  type ServiceSource,
} from "./running-service.js";

// Builds a RunningService from the processes that make it up (started in order,
// killed in reverse), or from a URL someone else runs.

export interface ServiceFields {
  url: string;
  kind: ServiceKind;
  description: string;
  durable: boolean;
}

/** A service made of `processes` (already started, in start order); stop() removes `tempDir`. */
export function localService(
  fields: ServiceFields,
  processes: ManagedProcess[],
  opts: { tempDir?: string; parts?: Partial<Record<BackendName, ManagedProcess>> },
): RunningService {
  const parts = opts.parts ?? {};
  const front = processes[processes.length - 1];
  const kill = async () => {
    for (const p of [...processes].reverse()) await p.kill();
  };
  const start = async () => {
    for (const p of processes) if (!p.running) await p.start();
  };
  return {
    ...fields,
    source: "local",
    controllable: true,
    parts,
    get running() {
      return processes.every((p) => p.running);
    },
    get pid() {
      return front?.pid;
    },
    kill,
    start,
    signal: (signal) => {
      for (const p of processes) p.signal(signal);
    },
    restart: async (restartOpts: RestartOptions = {}) => {
      await kill();
      if (restartOpts.downMs) await sleep(restartOpts.downMs);
      await start();
    },
    restartBackend: (name, restartOpts) => {
      const part = parts[name];
      if (!part)
        throw new Error(
          `${fields.kind} has no "${name}" process (it has: ${Object.keys(parts).join(", ") || "none"})`,
        );
      return part.restart(restartOpts);
    },
    stop: async () => {
      for (const p of [...processes].reverse()) await p.stop();
      if (opts.tempDir) await rm(opts.tempDir, { recursive: true, force: true });
    },
  };
}

/** A service reached by URL only (an env var or a container): no kill/restart from here. */
export function remoteService(
  fields: Omit<ServiceFields, "kind"> & { kind: RunningService["kind"]; source: ServiceSource },
  stop: () => Promise<void> = async () => {},
): RunningService {
  const refuse = async (): Promise<never> => {
    throw new NotControllableError(
      `${fields.description} was not started by the test services module, so it cannot be killed or restarted from here`,
    );
  };
  return {
    ...fields,
    controllable: false,
    parts: {},
    running: true,
    pid: undefined,
    kill: refuse,
    start: refuse,
    restart: refuse,
    restartBackend: refuse,
    signal: () => {
      throw new NotControllableError(`${fields.description} was not started here; cannot signal it`);
    },
    stop,
  };
}

const START_ATTEMPTS = 3;

/** Runs `start` again (it picks new ports) when the server died during startup: a "free" port can be taken meanwhile. */
export async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (attempt >= START_ATTEMPTS || !(error instanceof ServerExitedError)) throw error;
    }
  }
}

/**
 * A service of one process that keeps its data in a fresh temp dir (named
 * `prefix`…): `describe(tempDir)` says how to run it; the dir goes away when it
 * fails to start or is stopped.
 */
export async function startSingleProcessService(
  prefix: string,
  describe: (tempDir: string) => Promise<{ spec: ProcessSpec; fields: ServiceFields }>,
): Promise<RunningService> {
  return withFreshPorts(async () => {
    const tempDir = await mkdtemp(join(tmpdir(), prefix));
    try {
      const { spec, fields } = await describe(tempDir);
      const server = new ManagedProcess(spec);
      await server.start();
      return localService(fields, [server], { tempDir });
    } catch (error) {
      await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
  });
}
