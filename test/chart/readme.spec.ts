import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartDir, repoRoot } from "./helm.js";

describe("charts/testnet/README.md", () => {
  it("is what scripts/chart-readme.mjs generates from values.yaml", () => {
    const generated = spawnSync(process.execPath, [join(repoRoot, "scripts/chart-readme.mjs"), "--stdout"], {
      encoding: "utf8",
    });
    expect(generated.stderr).toBe("");
    expect(generated.status).toBe(0);
    expect(readFileSync(join(chartDir, "README.md"), "utf8")).toBe(generated.stdout);
  });

  it("documents every value with its type and default", () => {
    const readme = readFileSync(join(chartDir, "README.md"), "utf8");
    // Biome aligns the table columns, so cells are matched with their padding.
    const row = (...cells: string[]) =>
      new RegExp(
        `^\\| ${cells.map((cell) => `${cell.replace(/[|.*+?^${}()[\]\\]/g, "\\$&")} *`).join("\\| ")}\\|`,
        "m",
      );
    expect(readme).toMatch(row("`proposer.replicaCount`", "integer", "`3`"));
    expect(readme).toMatch(row("`executor.podDisruptionBudget.maxUnavailable`", "integer or string", "`1`"));
    expect(readme).toMatch(row("`grafana.dashboards.label`", "string", '`"grafana_dashboard"`'));
  });
});
