import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";
import { spawnTracked, type TrackedProcess } from "./tracked-process.js";

const ROOT = path.resolve(import.meta.dirname, "../..");
const PYTHON_DIR = path.join(ROOT, "examples/python-participant");
const GO_DIR = path.join(ROOT, "examples/go-participant");

export interface ExampleProcess extends TrackedProcess {
  address: string;
}

async function startProcess(
  command: string,
  args: string[],
  cwd: string,
  address: string,
): Promise<ExampleProcess> {
  const proc = spawnTracked(command, args, { cwd });
  const { child, output } = proc;
  const [host, port] = [
    address.slice(0, address.lastIndexOf(":")),
    Number(address.slice(address.lastIndexOf(":") + 1)),
  ];
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}:\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host, () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) break;
    if (Date.now() > until) throw new Error(`${command} did not listen on ${address}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...proc, address };
}

/** The Python payment participant (examples/python-participant), from its venv. */
export async function startPythonPayment(
  db = path.join(mkdtempSync(path.join(tmpdir(), "py-payment-")), "barrier.db"),
) {
  const address = `127.0.0.1:${await freePort()}`;
  const python = path.join(PYTHON_DIR, ".venv/bin/python");
  return startProcess(
    python,
    ["-m", "payment_participant", "--listen", address, "--db", db],
    PYTHON_DIR,
    address,
  );
}

let goBinary: string | null = null;

/** The Go shipping participant (examples/go-participant), built once per run. */
export async function startGoShipping(opts: { db: string; latency?: string; address?: string }) {
  if (!goBinary) {
    goBinary = path.join(mkdtempSync(path.join(tmpdir(), "go-shipping-")), "shipping-participant");
    execFileSync("go", ["build", "-o", goBinary, "./cmd/shipping-participant"], {
      cwd: GO_DIR,
      stdio: "inherit",
    });
  }
  const address = opts.address ?? `127.0.0.1:${await freePort()}`;
  const args = ["--listen", address, "--db", opts.db, ...(opts.latency ? ["--latency", opts.latency] : [])];
  return startProcess(goBinary, args, GO_DIR, address);
}

export function tempPath(prefix: string, file: string): string {
  return path.join(mkdtempSync(path.join(tmpdir(), prefix)), file);
}
