// "@saga-coordinator/participant-sdk/conformance": the conformance kit as a library
// (the `saga-conformance` CLI runs the same checks). The effect-count step a
// participant serves for it (EffectCounter) is in ./participant.
export { CONFORMANCE_RULES, type ConformanceRule } from "../conformance/conformance-rules.js";
export { formatJunit } from "../conformance/junit-report.js";
export { formatReport } from "../conformance/report-table.js";
export {
  type ConformanceOptions,
  type ConformanceReport,
  type RuleResult,
  runConformance,
} from "../conformance/run-conformance.js";
