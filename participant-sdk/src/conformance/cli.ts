#!/usr/bin/env node
import { writeFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { CONFORMANCE_RULES } from "./conformance-rules.js";
import { formatJunit } from "./junit-report.js";
import { formatReport } from "./report-table.js";
import { runConformance } from "./run-conformance.js";

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

const program = new Command("saga-conformance")
  .description(
    "Checks a saga participant (any language) against the saga.v1 participant protocol.\n" +
      "The participant must implement the effect-count step `conformance.effects` (see the SDK README).\n\n" +
      `Rules: ${CONFORMANCE_RULES.map((r) => r.id).join(", ")}`,
  )
  .requiredOption("--target <host:port>", "the participant's gRPC address")
  .requiredOption("--step <name>", "the step to test (it must take effect for --payload)")
  .option("--payload <json>", "payload of every call of the step", "{}")
  .option("--content-type <type>", "content type of the payload", "application/json")
  .option("--timeout-ms <ms>", "deadline of each call", positiveInt, 5_000)
  .option("--concurrency <n>", "identical Executes fired at once", positiveInt, 20)
  .option("--rule <id...>", "run only these rules")
  .option("--json", "print the report as JSON instead of a table")
  .option("--junit <file>", "also write the report as JUnit XML (for CI test reports)")
  .option(
    "--restart-cmd <command>",
    "shell command that restarts the participant; adds the durable-barrier rule (barrier records survive a restart)",
  )
  // Usage errors exit 2 (commander already printed them), keeping 1 for "a rule failed".
  .exitOverride()
  .action(async (opts) => {
    const report = await runConformance({
      target: opts.target,
      step: opts.step,
      payload: Buffer.from(opts.payload, "utf8"),
      contentType: opts.contentType,
      timeoutMs: opts.timeoutMs,
      concurrency: opts.concurrency,
      rules: opts.rule,
      restartCmd: opts.restartCmd,
    });
    process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
    if (opts.junit) writeFileSync(opts.junit, formatJunit(report));
    process.exitCode = report.passed ? 0 : 1;
  });

program.parseAsync().catch((err: unknown) => {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
    return;
  }
  process.stderr.write(`saga-conformance: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
