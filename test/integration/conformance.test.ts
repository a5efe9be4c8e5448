import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import {
  EffectCounter,
  type Participant,
  runConformance,
  startParticipant,
} from "@saga-coordinator/participant-sdk";
import { MongoBarrierStore } from "@saga-coordinator/participant-sdk/barrier/mongodb";
import { type ParticipantServiceServer, ParticipantServiceService } from "@saga-coordinator/proto";
import { MongoClient } from "mongodb";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { Wallet } from "../../examples/typescript-participant/src/wallet.js";
import { walletSteps } from "../../examples/typescript-participant/src/wallet-steps.js";
import { freePort } from "../support/free-port.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const CLI = `${root}participant-sdk/dist/conformance/cli.js`;
const BUNDLE = `${root}participant-sdk/dist/saga-conformance.mjs`;
const EXAMPLE = `${root}examples/typescript-participant/dist/main.js`;
const PAYLOAD = '{"account":"alice","amount":5}';
const silent = pino({ level: "silent" });
const run = promisify(execFile);

beforeAll(() => {
  for (const file of [CLI, BUNDLE, EXAMPLE]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run \`npx tsc -b\` first`);
  }
});

const participants: Participant[] = [];
afterEach(async () => {
  await Promise.all(participants.splice(0).map((p) => p.shutdown()));
});

/** The example's wallet on the SDK, in this process. */
async function wallet(options: Partial<Parameters<typeof startParticipant>[0]> = {}): Promise<Participant> {
  const p = await startParticipant({
    listen: "127.0.0.1:0",
    steps: walletSteps(new Wallet(1000), new EffectCounter(), 5),
    logger: silent,
    ...options,
  });
  participants.push(p);
  return p;
}

/** Runs the CLI (or another build of it) as a user would; resolves with its exit code and output. */
async function cli(
  args: string[],
  script = CLI,
  cwd = root,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "pipe"], cwd });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  const [code] = await once(child, "exit");
  return { code: code as number | null, stdout, stderr };
}

/** Starts the example participant process and waits for its "participant listening" log line. */
async function spawnExample(): Promise<{ child: ChildProcess; address: string; logs: () => string }> {
  const child = spawn(process.execPath, [EXAMPLE, "--listen", "127.0.0.1:0", "--latency-ms", "5"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOG_LEVEL: "info" },
  });
  let out = "";
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`example did not start: ${out}`)), 15_000);
    child.stdout?.on("data", (chunk) => {
      out += chunk;
      for (const line of out.split("\n")) {
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === "participant listening" && entry.address) {
          clearTimeout(timer);
          resolve(entry.address);
        }
      }
    });
    child.once("exit", (code) => reject(new Error(`example exited with ${code}: ${out}`)));
  });
  return { child, address, logs: () => out };
}

describe("saga-conformance CLI", () => {
  it("runs as one file copied out of the repository (the bundle a Java or Go CI downloads)", async () => {
    const elsewhere = mkdtempSync(path.join(tmpdir(), "saga-kit-"));
    copyFileSync(BUNDLE, path.join(elsewhere, "saga-conformance.mjs"));
    const example = await spawnExample();
    try {
      const result = await cli(
        ["--target", example.address, "--step", "debit", "--payload", PAYLOAD, "--junit", "report.xml"],
        path.join(elsewhere, "saga-conformance.mjs"),
        elsewhere,
      );
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(/^8 passed, 0 failed$/m);
      expect(result.code).toBe(0);
      const junit = readFileSync(path.join(elsewhere, "report.xml"), "utf8");
      expect(junit).toMatch(/<testsuites name="saga-conformance" tests="8" failures="0" time="[\d.]+">/);
      expect(junit.match(/<testcase /g)).toHaveLength(8);
    } finally {
      example.child.kill("SIGTERM");
      await once(example.child, "exit");
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("passes every rule against the example participant, which then stops cleanly on SIGTERM", async () => {
    const example = await spawnExample();
    try {
      const result = await cli(["--target", example.address, "--step", "debit", "--payload", PAYLOAD]);
      expect(result.stderr).toBe("");
      expect(result.stdout).toMatch(/^saga-conformance: target 127\.0\.0\.1:\d+, step "debit"/);
      for (const rule of [
        "health",
        "effect-count-step",
        "duplicate-execute",
        "concurrent-execute",
        "null-compensation",
        "hanging-execute",
        "repeated-compensate",
        "unknown-step",
      ]) {
        expect(result.stdout).toMatch(new RegExp(`^${rule}\\s+PASS\\s`, "m"));
      }
      expect(result.stdout).toMatch(/^8 passed, 0 failed$/m);
      expect(result.code).toBe(0);
    } finally {
      example.child.kill("SIGTERM");
      const [code] = await once(example.child, "exit");
      expect(code).toBe(0);
      expect(example.logs()).toContain('"msg":"participant stopped"');
    }
  });

  it("fails against a participant with the barrier disabled, naming the broken rules, and exits 1", async () => {
    const broken = await wallet({ barrier: false });
    const result = await cli(["--target", broken.address, "--step", "debit", "--payload", PAYLOAD]);
    expect(result.code).toBe(1);
    for (const rule of ["duplicate-execute", "concurrent-execute", "null-compensation", "hanging-execute"]) {
      expect(result.stdout).toMatch(new RegExp(`^${rule}\\s+FAIL\\s`, "m"));
    }
    expect(result.stdout).toMatch(/^duplicate-execute\s+FAIL\s+.*executed=2 compensated=0, want executed=1/m);
    expect(result.stdout).toMatch(/^hanging-execute\s+FAIL\s+late Execute answered OK, want ABORTED/m);
    expect(result.stdout).toMatch(/^health\s+PASS/m);
    expect(result.stdout).toMatch(/^\d passed, [1-9] failed$/m);
  });

  it("exits 2 with a usage error when a required option is missing", async () => {
    const result = await cli(["--step", "debit"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/required option '--target <host:port>' not specified/);
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Rules: health, effect-count-step, duplicate-execute/);
  });
});

describe("runConformance", () => {
  const mongo = new MongoClient(inject("mongoUri"));
  const db = mongo.db(`conformance_${randomUUID().slice(0, 8)}`);
  afterAll(async () => {
    await db.dropDatabase();
    await mongo.close();
  });

  it("passes against the wallet on a MongoDB barrier", async () => {
    const p = await wallet({ barrier: new MongoBarrierStore(db) });
    const report = await runConformance({
      target: p.address,
      step: "credit",
      payload: Buffer.from(PAYLOAD),
      concurrency: 50,
    });
    expect(report.results.filter((r) => !r.passed)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(report.results).toHaveLength(8);
  });

  it("reports each rule of a participant without the effect-count step as failing with the reason", async () => {
    const counter = new EffectCounter();
    const steps = walletSteps(new Wallet(1000), counter);
    const { "conformance.effects": _omitted, ...withoutEffects } = steps;
    const p = await wallet({ steps: withoutEffects });
    const report = await runConformance({ target: p.address, step: "debit", payload: Buffer.from(PAYLOAD) });
    const byId = Object.fromEntries(report.results.map((r) => [r.id, r]));
    expect(report.passed).toBe(false);
    expect(byId.health?.passed).toBe(true);
    expect(byId["unknown-step"]?.passed).toBe(true);
    expect(byId["effect-count-step"]?.detail).toMatch(
      /^effect-count step answered FAILED_PRECONDITION: unknown step "conformance.effects"/,
    );
    expect(byId["duplicate-execute"]?.passed).toBe(false);
  });

  /** A hand-written participant (no SDK), as a careless implementation in any language might be. */
  async function handWritten(impl: ParticipantServiceServer): Promise<{ target: string; stop(): void }> {
    const server = new Server();
    server.addService(ParticipantServiceService, impl);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    return { target: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
  }

  it("fails the unknown-step rule for a participant that answers OK to any step name", async () => {
    const careless = await handWritten({
      execute: (_call, cb) => cb(null, { output: Buffer.from("ok") }),
      compensate: (_call, cb) => cb(null, {}),
    });
    try {
      const report = await runConformance({
        target: careless.target,
        step: "anything",
        rules: ["unknown-step"],
      });
      expect(report.results).toHaveLength(1);
      expect(report.results[0]).toMatchObject({ id: "unknown-step", passed: false });
      expect(report.results[0]?.detail).toMatch(
        /^Execute of unknown step "conformance\.no-such-step-[0-9a-f]{8}" answered OK; it must answer FAILED_PRECONDITION/,
      );
    } finally {
      careless.stop();
    }
  });

  it("fails the unknown-step rule for NOT_FOUND, which the coordinator would retry instead of compensating", async () => {
    const notFound = await handWritten({
      execute: (call, cb) => cb({ code: status.NOT_FOUND, details: `no step ${call.request.step}` }, null),
      compensate: (_call, cb) => cb(null, {}),
    });
    try {
      const report = await runConformance({
        target: notFound.target,
        step: "anything",
        rules: ["unknown-step"],
      });
      expect(report.results[0]?.passed).toBe(false);
      expect(report.results[0]?.detail).toMatch(
        /answered NOT_FOUND: no step conformance\.no-such-step-[0-9a-f]{8}; it must/,
      );
    } finally {
      notFound.stop();
    }
  });
});

describe("saga-conformance against a target that does not answer", () => {
  it("stops at once with one clear message and exit code 2, running no rule", async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    const result = await cli(["--target", closed, "--step", "debit", "--timeout-ms", "1000"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim()).toMatch(
      new RegExp(
        `^saga-conformance: cannot reach a participant at ${closed} within 1000 ms \\(channel [A-Z_]+\\); is it running`,
      ),
    );
  });
});

describe("saga-conformance --restart-cmd (durable barrier)", () => {
  /**
   * The example participant run by shell scripts, as a user's CI would: `start`
   * launches it on a fixed port, `restart` (the --restart-cmd) stops it and
   * launches it again, `stop` ends it.
   */
  async function scriptedExample(mongoUri?: string) {
    const dir = mkdtempSync(path.join(tmpdir(), "saga-restart-"));
    const address = `127.0.0.1:${await freePort()}`;
    const launch = `${JSON.stringify(process.execPath)} ${JSON.stringify(EXAMPLE)} --listen ${address}${
      mongoUri ? ` --mongo-uri '${mongoUri}'` : ""
    } > "${dir}/log" 2>&1 &\necho $! > "${dir}/pid"\n`;
    const stop = `kill "$(cat "${dir}/pid")"\nwhile kill -0 "$(cat "${dir}/pid")" 2>/dev/null; do sleep 0.1; done\n`;
    writeFileSync(path.join(dir, "start.sh"), launch);
    writeFileSync(path.join(dir, "restart.sh"), `set -e\n${stop}${launch}`);
    writeFileSync(path.join(dir, "stop.sh"), stop);
    await run("sh", [path.join(dir, "start.sh")]);
    return {
      address,
      restartCmd: `sh ${path.join(dir, "restart.sh")}`,
      async stop() {
        await run("sh", [path.join(dir, "stop.sh")]).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  const durableRule = (args: string[]) =>
    cli([...args, "--step", "debit", "--payload", PAYLOAD, "--rule", "health", "durable-barrier"]);

  it("passes a participant whose barrier is in MongoDB", async () => {
    const example = await scriptedExample(inject("mongoUri"));
    try {
      const result = await durableRule(["--target", example.address, "--restart-cmd", example.restartCmd]);
      expect(result.stdout).toMatch(/^durable-barrier\s+PASS\s+Execute replayed, Compensate undid it/m);
      expect(result.code).toBe(0);
    } finally {
      await example.stop();
    }
  });

  it("fails a participant whose barrier is in memory, saying what it forgot", async () => {
    const example = await scriptedExample();
    try {
      const result = await durableRule(["--target", example.address, "--restart-cmd", example.restartCmd]);
      expect(result.stdout).toMatch(
        /^durable-barrier\s+FAIL\s+repeated Execute after the restart \(the barrier forgot the first one\): effects applied executed=1/m,
      );
      expect(result.code).toBe(1);
    } finally {
      await example.stop();
    }
  });

  it("refuses the durable-barrier rule without a restart command", async () => {
    const result = await cli(["--target", "127.0.0.1:1", "--step", "debit", "--rule", "durable-barrier"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("rule durable-barrier needs --restart-cmd");
  });
});
