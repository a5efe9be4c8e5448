import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CoordinatorProcess, startCoordinatorProcess } from "../support/coordinator-process.js";
import { freePort } from "../support/free-port.js";

// What a user outside this repository gets: the two packages packed with
// `npm pack`, installed from the tarballs into a scratch project, the README's
// TypeScript snippets type-checked there with TypeScript 5 and 7, and a
// program built on the packages' subpath exports run against a coordinator.

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
const TSC5 = path.join(ROOT, "node_modules/typescript/bin/tsc");
const SNIPPET_SOURCES = ["README.md", "participant-sdk/README.md"];

/** ```ts blocks that are whole modules importing the SDK: each one a file a user could paste. */
function readmeSnippets(): { name: string; code: string }[] {
  const snippets: { name: string; code: string }[] = [];
  for (const file of SNIPPET_SOURCES) {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    for (const [i, match] of [...text.matchAll(/```ts\n([\s\S]*?)```/g)].entries()) {
      const code = match[1] as string;
      const firstStatement = code.split("\n").find((l) => l.trim() !== "" && !l.startsWith("//")) ?? "";
      if (firstStatement.startsWith("import ") && code.includes('from "@saga-coordinator/participant-sdk')) {
        snippets.push({ name: `${file.replace(/\W+/g, "-")}-${i}`, code });
      }
    }
  }
  return snippets;
}

/** Bytes under `dir`. */
function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += sizeOf(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

const E2E = `import { SagaClient, SagaStatus, saga } from "@saga-coordinator/participant-sdk/client";
import { jsonBytes, MemoryBarrierStore, startParticipant } from "@saga-coordinator/participant-sdk/participant";

const coordinator = process.argv[2] ?? "127.0.0.1:50051";
const participant = await startParticipant({
  listen: "127.0.0.1:0",
  barrier: new MemoryBarrierStore(),
  steps: {
    greet: { execute: async () => jsonBytes({ greeted: true }), compensate: async () => {} },
  },
});
const client = new SagaClient({ address: coordinator });
const { saga: started } = await client.start(saga("packaging").step("greet", participant.address, { json: {} }));
const done = await client.waitFor(started.sagaId, { timeoutMs: 60_000 });
console.log(\`saga \${done.sagaId}: \${SagaStatus[done.status]} \${done.steps[0]?.output.toString()}\`);
client.close();
await participant.shutdown();
`;

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    rootDir: "src",
    outDir: "dist",
    strict: true,
    skipLibCheck: false,
    types: ["node"],
  },
  include: ["src"],
};

describe("the packages as a user installs them", () => {
  let scratch: string;
  let coordinator: CoordinatorProcess;

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(tmpdir(), "saga-packages-"));
    const packs = path.join(scratch, "packs");
    mkdirSync(packs);
    const { stdout } = await run(
      "npm",
      ["pack", "--json", "--pack-destination", packs, "-w", "proto", "-w", "participant-sdk"],
      { cwd: ROOT },
    );
    const tarballs = (JSON.parse(stdout) as { filename: string }[]).map((p) => path.join(packs, p.filename));
    const project = path.join(scratch, "app");
    mkdirSync(path.join(project, "src"), { recursive: true });
    writeFileSync(
      path.join(project, "package.json"),
      JSON.stringify({ name: "app", private: true, type: "module" }, null, 2),
    );
    // The packages alone first, to weigh what a client-only user gets.
    await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], {
      cwd: project,
      timeout: 300_000,
    });
    await run(
      "npm",
      ["install", "--no-audit", "--no-fund", "--loglevel=error", "typescript@7", "@types/node@20"],
      {
        cwd: project,
        timeout: 300_000,
      },
    );
    writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
    coordinator = await startCoordinatorProcess(["dev", "--listen", `127.0.0.1:${await freePort()}`]);
  });
  afterAll(async () => {
    await coordinator?.kill("SIGKILL");
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const project = () => path.join(scratch, "app");

  it("installs without a database driver, in a few MB", () => {
    const modules = path.join(project(), "node_modules");
    expect(readdirSync(modules)).not.toContain("mongodb");
    const typescript = ["typescript", "@typescript", "@types"].map((d) => {
      try {
        return sizeOf(path.join(modules, d));
      } catch {
        return 0;
      }
    });
    const packagesAndDependencies = sizeOf(modules) - typescript.reduce((a, b) => a + b, 0);
    expect(packagesAndDependencies).toBeLessThan(20 * 1024 * 1024);
  });

  it("type-checks every README snippet with TypeScript 5 and 7", async () => {
    const snippets = readmeSnippets();
    expect(snippets.length).toBeGreaterThanOrEqual(3);
    for (const s of snippets) writeFileSync(path.join(project(), "src", `${s.name}.ts`), s.code);
    for (const tsc of [TSC5, path.join(project(), "node_modules/typescript/bin/tsc")]) {
      const result = await run(process.execPath, [tsc, "--noEmit", "-p", project()], {
        cwd: project(),
      }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }));
      expect(result.stdout, tsc).toBe("");
    }
    for (const s of snippets) rmSync(path.join(project(), "src", `${s.name}.ts`));
  });

  it("runs a client and a participant built on the subpath exports against a coordinator", async () => {
    writeFileSync(path.join(project(), "src", "main.ts"), E2E);
    await run(process.execPath, [path.join(project(), "node_modules/typescript/bin/tsc"), "-p", project()], {
      cwd: project(),
    });
    const { stdout } = await run(
      process.execPath,
      [path.join(project(), "dist/main.js"), coordinator.address],
      {
        cwd: project(),
        timeout: 120_000,
      },
    );
    expect(stdout).toMatch(/^saga [\w-]+: SAGA_STATUS_COMPLETED \{"greeted":true\}$/m);
  });
});
