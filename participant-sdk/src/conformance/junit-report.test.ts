import { describe, expect, it } from "vitest";
import { formatJunit } from "./junit-report.js";

describe("formatJunit", () => {
  it("makes one testcase per rule, a failure with the detail for each failed rule, and escapes text", () => {
    const xml = formatJunit({
      target: "127.0.0.1:7001",
      step: "debit",
      passed: false,
      results: [
        { id: "health", title: "Health/Check is SERVING", passed: true, detail: "SERVING", durationMs: 12 },
        {
          id: "unknown-step",
          title: "unknown steps answer FAILED_PRECONDITION",
          passed: false,
          detail: 'answered NOT_FOUND: no step "x" <here> & \u0001there',
          durationMs: 1500,
        },
      ],
    });
    expect(xml).toContain('<testsuites name="saga-conformance" tests="2" failures="1" time="1.512">');
    expect(xml).toContain(
      '<testcase classname="saga-conformance 127.0.0.1:7001 step debit" name="health: Health/Check is SERVING" time="0.012">',
    );
    expect(xml).toContain(
      '<failure message="answered NOT_FOUND: no step &quot;x&quot; &lt;here&gt; &amp; there">',
    );
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
  });
});
