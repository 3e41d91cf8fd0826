import { defineConfig } from "vitest/config";

// Tests import workspace packages from their TypeScript sources (the
// "@simd23/source" export condition), so `vitest` needs no build; end-to-end
// tests start the built services as processes and run after `tsc -b`.
const sourceCondition = ["@simd23/source", "node", "import", "default"];

export default defineConfig({
  resolve: { conditions: sourceCondition },
  ssr: { resolve: { conditions: sourceCondition, externalConditions: ["@simd23/source"] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.spec.ts", "services/*/src/**/*.spec.ts"],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/**/*.spec.ts"],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
