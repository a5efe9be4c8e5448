import type { ConformanceReport } from "./run-conformance.js";

/** The report as a plain-text table, one rule per row, ending with "N passed, N failed". */
export function formatReport(report: ConformanceReport): string {
  const rows = report.results.map((r) => [r.id, r.passed ? "PASS" : "FAIL", r.detail]);
  const idWidth = Math.max(4, ...rows.map((r) => (r[0] ?? "").length));
  const line = (cells: string[]) =>
    `${(cells[0] ?? "").padEnd(idWidth)}  ${(cells[1] ?? "").padEnd(6)}  ${cells[2] ?? ""}`;
  const passed = report.results.filter((r) => r.passed).length;
  return [
    `saga-conformance: target ${report.target}, step "${report.step}"`,
    "",
    line(["RULE", "RESULT", "DETAIL"]),
    ...rows.map(line),
    "",
    `${passed} passed, ${report.results.length - passed} failed`,
  ].join("\n");
}
