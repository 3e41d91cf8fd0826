import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartDir, find, PINNED, render, repoRoot } from "./helm.js";
import { documentedMetrics, metricNames, undocumented } from "./promql.js";

/** `<role>` of docs/metrics.md: each role's folder name under services/ with - turned into _. */
const ROLES = ["proposer", "leader", "executor", "vote-aggregator", "bank-hash-verifier"].map((role) =>
  role.replaceAll("-", "_"),
);
const metrics = documentedMetrics(readFileSync(join(repoRoot, "docs/metrics.md"), "utf8"), ROLES);

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}

function prometheusRules(): Rule[] {
  const manifests = render([...PINNED, "--set", "metrics.prometheusRule.enabled=true"]);
  const rule = find(manifests, "PrometheusRule", "testnet");
  return (rule.spec as { groups: { rules: Rule[] }[] }).groups.flatMap((group) => group.rules);
}

interface Dashboard {
  title: string;
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
  panels: { title: string; datasource: { uid: string }; targets: { expr: string }[] }[];
}

function dashboards(): Dashboard[] {
  const dir = join(chartDir, "dashboards");
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .map((file) => JSON.parse(readFileSync(join(dir, file), "utf8")) as Dashboard);
}

describe("metricNames", () => {
  it.each([
    [
      'sum by (level) (rate(simd23_a_total{namespace=~"$namespace", level="x"}[$__rate_interval]))',
      ["simd23_a_total"],
    ],
    [
      "histogram_quantile(0.99, sum by (le) (rate(simd23_b_seconds_bucket[5m])))",
      ["simd23_b_seconds_bucket"],
    ],
    ["sum(rate(a_total[1m])) / (sum(rate(b_total[1m])) + 1e3) > 0.05", ["a_total", "b_total"]],
    ["max(a_up or b_up) == 0", ["a_up", "b_up"]],
    ['testnet:recorded:ratio10m{testnet="t"} > 0.1', ["testnet:recorded:ratio10m"]],
    ['label_values(simd23_executor_slot{namespace=~"$namespace"}, testnet)', ["simd23_executor_slot"]],
    ["a_total * on (pod) group_left (node) b_info offset 5m", ["a_total", "b_info"]],
  ])("reads the metrics of %s", (expression, names) => {
    expect(metricNames(expression)).toEqual(names);
  });
});

describe("undocumented", () => {
  it("accepts listed metrics, the series of listed histograms and the chart's recording rules", () => {
    expect(undocumented("simd23_leader_tick_drift_seconds_bucket", metrics, new Set())).toBeNull();
    expect(undocumented("simd23_executor_halted", metrics, new Set())).toBeNull();
    expect(undocumented("testnet:x:rate1m", metrics, new Set(["testnet:x:rate1m"]))).toBeNull();
  });

  it("refuses names docs/metrics.md does not list", () => {
    expect(undocumented("simd23_leader_blocks_total", metrics, new Set())).toBe(
      "simd23_leader_blocks_total is not in docs/metrics.md",
    );
    expect(undocumented("simd23_leader_poh_hashes_total_bucket", metrics, new Set())).toBe(
      "simd23_leader_poh_hashes_total_bucket is not in docs/metrics.md",
    );
    expect(undocumented("testnet:y:rate1m", metrics, new Set())).toBe(
      "testnet:y:rate1m is not a recording rule of the chart",
    );
  });
});

describe("docs/metrics.md", () => {
  it("lists the common metrics of every role and each role's own", () => {
    const names = metrics.map((metric) => metric.name);
    for (const role of ROLES) expect(names).toContain(`simd23_${role}_halted`);
    expect(names).toContain("simd23_leader_poh_hashes_total");
    expect(metrics.find((metric) => metric.name === "simd23_leader_tick_drift_seconds")?.type).toBe(
      "histogram",
    );
  });
});

describe("the PrometheusRule", () => {
  const rules = prometheusRules();
  const recorded = new Set(rules.flatMap((rule) => (rule.record ? [rule.record] : [])));

  it("uses only metrics in docs/metrics.md and its own recording rules", () => {
    const problems = rules.flatMap((rule) =>
      metricNames(rule.expr).flatMap((name) => {
        const problem = undocumented(name, metrics, recorded);
        return problem ? [`${rule.record ?? rule.alert}: ${problem}`] : [];
      }),
    );
    expect(problems).toEqual([]);
  });

  it("records tps by confirmation level, the PoH hash rate and refusals", () => {
    const sources = (record: string) => metricNames(rules.find((rule) => rule.record === record)?.expr ?? "");
    expect(sources("testnet_level:simd23_vote_aggregator_transactions:rate1m")).toEqual([
      "simd23_vote_aggregator_transactions_total",
    ]);
    expect(sources("testnet_pod:simd23_leader_poh_hashes:rate1m")).toEqual([
      "simd23_leader_poh_hashes_total",
    ]);
    expect(sources("testnet_reason:simd23_proposer_transactions_refused:rate5m")).toEqual([
      "simd23_proposer_transactions_refused_total",
    ]);
    expect(sources("testnet_reason:simd23_leader_user_blocks_refused:rate5m")).toEqual([
      "simd23_leader_user_blocks_refused_total",
    ]);
  });

  it("alerts on skipped slots, execution lag, BankHash disagreement and halts", () => {
    const alertsOn = (metric: string) =>
      rules.filter((rule) => rule.alert && metricNames(rule.expr).includes(metric)).map((rule) => rule.alert);
    expect(alertsOn("testnet:simd23_leader_slots_skipped:ratio10m")).toEqual(["Simd23SlotsSkipped"]);
    expect(alertsOn("simd23_executor_execution_lag_slots")).toEqual(["Simd23ExecutionLagging"]);
    expect(alertsOn("simd23_bank_hash_verifier_mismatches_total")).toEqual(["Simd23BankHashMismatch"]);
    expect(alertsOn("simd23_bank_hash_verifier_bank_hash_agreement_ratio")).toEqual([
      "Simd23BankHashAgreementLow",
    ]);
    for (const role of ROLES) expect(alertsOn(`simd23_${role}_halted`)).toEqual(["Simd23ClusterHalted"]);
  });

  it("selects only its own testnet's series", () => {
    for (const rule of rules) {
      for (const selector of rule.expr.match(/\{[^}]*\}/g) ?? []) {
        expect(selector, rule.record ?? rule.alert).toBe('{namespace="simd23", testnet="testnet"}');
      }
    }
  });
});

describe("the Grafana dashboards", () => {
  const all = dashboards();

  it("are the four the chart promises", () => {
    expect(all.map((dashboard) => dashboard.title).sort()).toEqual([
      "simd23 / Cluster overview",
      "simd23 / Leader",
      "simd23 / Proposers",
      "simd23 / Validators",
    ]);
  });

  it("query only metrics in docs/metrics.md", () => {
    const problems = all.flatMap((dashboard) => {
      const queries = [
        ...dashboard.panels.flatMap((panel) =>
          panel.targets.map((target) => [panel.title, target.expr] as const),
        ),
        ...dashboard.templating.list
          .filter((variable) => variable.type === "query")
          .map((variable) => [`variable ${variable.name}`, variable.definition ?? ""] as const),
      ];
      return queries.flatMap(([where, expression]) =>
        metricNames(expression).flatMap((name) => {
          const problem = undocumented(name, metrics, new Set());
          return problem ? [`${dashboard.title} / ${where}: ${problem}`] : [];
        }),
      );
    });
    expect(problems).toEqual([]);
  });

  it("read every panel from the datasource variable", () => {
    for (const dashboard of all) {
      expect(dashboard.templating.list[0]).toMatchObject({
        name: "datasource",
        type: "datasource",
        query: "prometheus",
      });
      for (const panel of dashboard.panels) expect(panel.datasource.uid, panel.title).toBe("$datasource");
    }
  });

  it("are what scripts/chart-dashboards.mjs builds", () => {
    const result = spawnSync(process.execPath, [join(repoRoot, "scripts/chart-dashboards.mjs"), "--check"], {
      encoding: "utf8",
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});
