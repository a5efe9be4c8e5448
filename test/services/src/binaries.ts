import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

// Where the server binaries are (see scripts/install-test-deps.sh, which puts them there).

/** The repository root (this file is test/services/{src,dist}/binaries.*). */
export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
/** FerretDB built by scripts/install-test-deps.sh (git-ignored). */
export const projectFerretdb = join(repoRoot, ".test-services/bin/ferretdb");
/** The in-memory fallback server, built with Maven by scripts/install-test-deps.sh. */
export const mongoJavaServerJar = join(repoRoot, "scripts/mongo-java-server/target/mongo-java-server.jar");

/** Absolute path of an executable `name` on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir || ".", name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The project's FerretDB build, else `ferretdb` on PATH. */
export function findFerretdb(): string | undefined {
  return isExecutable(projectFerretdb) ? projectFerretdb : findOnPath("ferretdb");
}

/** Directory with initdb and postgres: Debian's newest /usr/lib/postgresql/N/bin, else PATH. */
export function findPostgresBinDir(): string | undefined {
  const debian = "/usr/lib/postgresql";
  const versions = existsSync(debian)
    ? readdirSync(debian)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const dir = join(debian, version, "bin");
    if (isExecutable(join(dir, "initdb")) && isExecutable(join(dir, "postgres"))) return dir;
  }
  const initdb = findOnPath("initdb");
  if (initdb && findOnPath("postgres")) return join(initdb, "..");
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
