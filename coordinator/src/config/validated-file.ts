import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

/**
 * Reads a YAML (or JSON, which is YAML) file and validates it against
 * `schema`; the error, made by `fail`, names the file and each bad field.
 */
export function readValidatedFile<S extends z.ZodType>(
  path: string,
  schema: S,
  what: string,
  fail: (message: string) => Error,
): z.infer<S> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw fail(`${what} ${path}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(file)"}: ${i.message}`);
    throw fail(`${what} ${path} is not valid:\n${problems.join("\n")}`);
  }
  return parsed.data;
}
