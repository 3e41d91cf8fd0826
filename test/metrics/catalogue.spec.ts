import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../chart/helm.js";
import { catalogued, METRIC_ROLES, parseCatalogue, parseLabelsCell, roleOfMetric } from "./catalogue.js";

describe("parseLabelsCell", () => {
  it.each([
    ["", []],
    ["`dependency` (`nats`, `redis`)", [{ name: "dependency", values: ["nats", "redis"] }]],
    [
      "`version`, `mode` (`async`, `sync`)",
      [{ name: "version" }, { name: "mode", values: ["async", "sync"] }],
    ],
    ["`reason` (`RejectReason` name, lower case)", [{ name: "reason" }]],
    ["`level` (`received` … `finalized`, `dropped`)", [{ name: "level" }]],
    ["`validator`", [{ name: "validator" }]],
  ])("reads %j", (cell, labels) => {
    expect(parseLabelsCell(cell)).toEqual(labels);
  });

  it("refuses a label it cannot read", () => {
    expect(() => parseLabelsCell("kind")).toThrow('docs/metrics.md: unreadable label "kind"');
  });
});

describe("roleOfMetric", () => {
  it("takes the longest role prefix", () => {
    expect(roleOfMetric("simd23_vote_aggregator_votes_total")).toBe("vote_aggregator");
    expect(roleOfMetric("simd23_bank_hash_verifier_halted")).toBe("bank_hash_verifier");
    expect(roleOfMetric("simd23_leader_slot")).toBe("leader");
    expect(roleOfMetric("process_cpu_seconds_total")).toBeUndefined();
  });
});

describe("docs/metrics.md", () => {
  const catalogue = parseCatalogue(readFileSync(join(repoRoot, "docs/metrics.md"), "utf8"));

  it("gives every role the common rows, with their types and labels", () => {
    for (const role of METRIC_ROLES) {
      expect(catalogue.find((m) => m.name === `simd23_${role}_dependency_up`)).toEqual({
        name: `simd23_${role}_dependency_up`,
        type: "gauge",
        labels: [{ name: "dependency", values: ["nats", "redis"] }],
        role,
      });
      expect(catalogue.find((m) => m.name === `simd23_${role}_slot`)?.type).toBe("gauge");
    }
  });

  it("types every metric as a counter, gauge or histogram, and names counters _total", () => {
    for (const metric of catalogue) {
      expect(["counter", "gauge", "histogram"], metric.name).toContain(metric.type);
      expect(metric.name.endsWith("_total"), metric.name).toBe(metric.type === "counter");
    }
  });

  it("maps a histogram's series to the histogram, and nothing else", () => {
    expect(catalogued("simd23_leader_tick_drift_seconds_bucket", catalogue)?.name).toBe(
      "simd23_leader_tick_drift_seconds",
    );
    expect(catalogued("simd23_leader_poh_hashes_total", catalogue)?.type).toBe("counter");
    expect(catalogued("simd23_leader_poh_hashes_total_count", catalogue)).toBeUndefined();
    expect(catalogued("simd23_leader_blocks_total", catalogue)).toBeUndefined();
  });
});
