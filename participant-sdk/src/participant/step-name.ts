/** The protocol's step names: 1..64 characters of [A-Za-z0-9._-] (saga.proto StepDefinition.name). */
const STEP_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function assertStepNames(names: string[]): void {
  if (names.length === 0) throw new TypeError("a participant needs at least one step");
  const bad = names.filter((n) => !STEP_NAME.test(n));
  if (bad.length > 0) {
    throw new TypeError(`step names must be 1..64 characters of [A-Za-z0-9._-]; bad: ${bad.join(", ")}`);
  }
}
