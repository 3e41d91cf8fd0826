import { describe, expect, it } from "vitest";
import { type CatalogueMetric, parseCatalogue } from "./catalogue.js";
import { exportProblems, extraMetrics, type ScrapedReplica } from "./checks.js";
import { parseExposition } from "./exposition.js";

const catalogue: CatalogueMetric[] = parseCatalogue(`
| metric | type | labels | meaning |
|---|---|---|---|
| \`simd23_leader_entries_total\` | counter | \`type\` (\`tick\`, \`votes\`) | entries |
| \`simd23_leader_tick_drift_seconds\` | histogram | | drift |
| \`simd23_leader_leading\` | gauge | | leading |
| \`simd23_proposer_transactions_dropped_total\` | counter | \`reason\` | dropped |
`);

const DEFAULTS =
  "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1\n# TYPE nodejs_heap_size_used_bytes gauge\nnodejs_heap_size_used_bytes 1\n";

const LEADER_OK = `${DEFAULTS}# TYPE simd23_leader_entries_total counter
simd23_leader_entries_total{type="tick"} 10
# TYPE simd23_leader_tick_drift_seconds histogram
simd23_leader_tick_drift_seconds_bucket{le="+Inf"} 1
simd23_leader_tick_drift_seconds_sum 0.1
simd23_leader_tick_drift_seconds_count 1
# TYPE simd23_leader_leading gauge
simd23_leader_leading 1
`;
const PROPOSER_OK = `${DEFAULTS}# TYPE simd23_proposer_transactions_dropped_total counter
simd23_proposer_transactions_dropped_total{reason="blockhash_expired"} 2
`;

const replica = (role: ScrapedReplica["role"], name: string, page: string): ScrapedReplica => ({
  role,
  replica: name,
  families: parseExposition(page),
});

describe("exportProblems", () => {
  const references = [
    { where: "overview / panel A", name: "simd23_leader_tick_drift_seconds_bucket" },
    { where: "rule R", name: "testnet:recorded:rate1m" },
  ];

  it("finds nothing when every replica exports the catalogue as it says", () => {
    const scraped = [
      replica("leader", "leader-0", LEADER_OK),
      replica("proposer", "proposer-0", PROPOSER_OK),
    ];
    expect(exportProblems(catalogue, scraped, references)).toEqual([]);
  });

  it("names the replica and the metric that is missing, mistyped, mislabelled or never set", () => {
    const leader = LEADER_OK.replace('{type="tick"}', '{type="tick",pod="x"}')
      .replace("# TYPE simd23_leader_leading gauge\nsimd23_leader_leading 1\n", "")
      .replace(
        "TYPE simd23_leader_tick_drift_seconds histogram",
        "TYPE simd23_leader_tick_drift_seconds summary",
      );
    const proposer = PROPOSER_OK.replace(/^simd23_proposer_transactions_dropped_total.*\n/m, "");
    const scraped = [
      replica("leader", "leader-0", leader),
      replica("leader", "leader-1", LEADER_OK.replace('type="tick"', 'type="vote"')),
      replica("proposer", "proposer-0", proposer),
    ];
    expect(
      exportProblems(catalogue, scraped, [
        ...references,
        { where: "proposers / panel B", name: "simd23_proposer_x_total" },
      ]),
    ).toEqual([
      "leader-0: simd23_leader_entries_total has labels {pod, type}; docs/metrics.md says {type}",
      'leader-1: simd23_leader_entries_total{type="vote"}: docs/metrics.md allows tick, votes',
      "leader-0: exports simd23_leader_tick_drift_seconds as a summary; docs/metrics.md says histogram",
      "leader-0: does not export simd23_leader_leading (docs/metrics.md: gauge)",
      "proposer: no replica has a series of simd23_proposer_transactions_dropped_total (declared, never set)",
      "overview / panel A: simd23_leader_tick_drift_seconds_bucket is not exported as a histogram by leader-0",
      "proposers / panel B: simd23_proposer_x_total is not in docs/metrics.md",
    ]);
  });

  it("refuses another role's metric and a replica without the prom-client defaults", () => {
    const scraped = [
      replica(
        "leader",
        "leader-0",
        `${LEADER_OK}# TYPE simd23_executor_slot gauge\nsimd23_executor_slot 3\n`,
      ),
      replica("proposer", "proposer-0", PROPOSER_OK.replace(DEFAULTS, "")),
    ];
    expect(exportProblems(catalogue, scraped, [])).toEqual([
      "leader-0: exports simd23_executor_slot, which is not named after its role (simd23_leader_…)",
      "proposer-0: exports no prom-client default metric process_*",
      "proposer-0: exports no prom-client default metric nodejs_*",
    ]);
  });
});

describe("extraMetrics", () => {
  it("lists simd23 metrics the catalogue does not, with each replica and type", () => {
    const extra = "# TYPE simd23_leader_not_serving gauge\nsimd23_leader_not_serving 0\n";
    const scraped = [
      replica("leader", "leader-0", LEADER_OK + extra),
      replica("leader", "leader-1", LEADER_OK + extra),
      replica("proposer", "proposer-0", PROPOSER_OK),
    ];
    expect(extraMetrics(catalogue, scraped)).toEqual(
      new Map([["simd23_leader_not_serving", ["leader-0 (gauge)", "leader-1 (gauge)"]]]),
    );
  });
});
