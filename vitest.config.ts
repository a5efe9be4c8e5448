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
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
