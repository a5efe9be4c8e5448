import type { ConformanceReport } from "./run-conformance.js";

/**
 * The report as JUnit XML, the format CI systems (GitHub Actions, GitLab,
 * Jenkins) show as test results: one testcase per rule, a failure element
 * with the rule's detail when it failed.
 */
export function formatJunit(report: ConformanceReport): string {
  const failures = report.results.filter((r) => !r.passed).length;
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const total = report.results.reduce((sum, r) => sum + r.durationMs, 0);
  const suite = `saga-conformance ${report.target} step ${report.step}`;
  const cases = report.results.map((r) => {
    const open = `    <testcase classname="${xml(suite)}" name="${xml(r.id)}: ${xml(r.title)}" time="${seconds(r.durationMs)}"`;
    if (r.passed) return `${open}>\n      <system-out>${xml(r.detail)}</system-out>\n    </testcase>`;
    return `${open}>\n      <failure message="${xml(r.detail)}">${xml(r.detail)}</failure>\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="saga-conformance" tests="${report.results.length}" failures="${failures}" time="${seconds(total)}">`,
    `  <testsuite name="${xml(suite)}" tests="${report.results.length}" failures="${failures}" errors="0" time="${seconds(total)}">`,
    ...cases,
    "  </testsuite>",
    "</testsuites>",
    "",
  ].join("\n");
}

/** Text safe in XML content and attributes; characters XML 1.0 cannot hold are dropped. */
function xml(text: string): string {
  return [...text]
    .filter((ch) => {
      const c = ch.codePointAt(0) ?? 0;
      return (
        c === 0x9 ||
        c === 0xa ||
        c === 0xd ||
        (c >= 0x20 && c <= 0xd7ff) ||
        (c >= 0xe000 && c <= 0xfffd) ||
        c > 0xffff
      );
    })
    .join("")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}
