import { defineConfig } from "vitest/config";

// Two projects: `unit` is pure logic and needs nothing; `integration` gets a
// real etcd and a real MongoDB-wire server from test/setup/global-setup.ts.
export default defineConfig({
  test: {
    // Integration and cluster tests start real processes; one file at a time keeps them from starving each other.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: "unit",
          include: ["coordinator/src/**/*.test.ts", "participant-sdk/src/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/**/*.test.ts"],
          globalSetup: ["test/setup/global-setup.ts"],
          // Real processes on a loaded 2-core CI machine: a cluster test that takes 40 s
          // alone took over 120 s there. Waits inside tests have their own deadlines.
          testTimeout: 360_000,
          hookTimeout: 360_000,
        },
      },
    ],
  },
});
