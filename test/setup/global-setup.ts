import type { TestProject } from "vitest/node";
import { startTestServices, TestServicesError } from "../services/src/index.js";

// Global setup of the `integration` project: finds a REAL etcd and a REAL
// MongoDB-wire server through the test services module (test/services; see
// find-services.ts there for the lookup order: env vars, local binaries,
// testcontainers), hands them to tests as inject("etcdEndpoints") /
// inject("mongoUri") and as ETCD_ENDPOINTS / MONGODB_URI (inherited by child
// processes), prints which servers they are, and stops whatever it started
// after the run. SAGA_TEST_SERVICES=none finds nothing, to check the failure
// message (scripts/check-missing-services.sh does).

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const previousEnv = { ETCD_ENDPOINTS: process.env.ETCD_ENDPOINTS, MONGODB_URI: process.env.MONGODB_URI };
  let services: Awaited<ReturnType<typeof startTestServices>>;
  try {
    services = await startTestServices({ log: (line) => console.log(`[test-services] ${line}`) });
  } catch (error) {
    if (!(error instanceof TestServicesError)) throw error;
    // A thrown error would be printed after a misleading "No test files found"
    // block; say only what is wrong and how to fix it.
    console.error(`\n${error.message}\n`);
    process.exit(1);
  }
  project.provide("etcdEndpoints", services.etcd.url);
  project.provide("mongoUri", services.mongo.url);
  process.env.ETCD_ENDPOINTS = services.etcd.url;
  process.env.MONGODB_URI = services.mongo.url;
  return async () => {
    await services.stop();
    restoreEnv(previousEnv);
  };
}

function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}
