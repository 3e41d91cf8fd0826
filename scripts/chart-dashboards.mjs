#!/usr/bin/env node
// Writes the Grafana dashboards of charts/testnet/dashboards/ from the compact descriptions
// below, so every dashboard shares one layout, one set of variables and one selector. With
// --check it writes nothing and fails when a committed dashboard differs from what it builds.
// Queries may use only the metrics in docs/metrics.md (test/chart checks it).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const outDir = join(root, "charts/testnet/dashboards");

/** The series of the chosen testnet: the ServiceMonitor adds `testnet` (the release) to every series. */
const S = 'namespace=~"$namespace", testnet=~"$testnet"';
const RATE = "$__rate_interval";
const ROLES = ["proposer", "leader", "executor", "vote_aggregator", "bank_hash_verifier"];
const DATASOURCE = { type: "prometheus", uid: "$datasource" };

const query = (expr, legendFormat = "__auto") => ({ expr, legendFormat });
const quantiles = (metric, by = "", legendPrefix = "") => {
  const groups = by ? `${by}, le` : "le";
  return [0.5, 0.99].map((q) =>
    query(
      `histogram_quantile(${q}, sum by (${groups}) (rate(${metric}_bucket{${S}}[${RATE}])))`,
      `${legendPrefix}p${q * 100}`,
    ),
  );
};

/** A panel: `kind` is stat or timeseries; `width` in grid columns (24 per row). */
const stat = (title, description, targets, options = {}) => ({
  kind: "stat",
  width: 4,
  height: 4,
  title,
  description,
  targets,
  ...options,
});
const series = (title, description, targets, options = {}) => ({
  kind: "timeseries",
  width: 12,
  height: 8,
  title,
  description,
  targets,
  ...options,
});

// Raw series of different roles never share a label set (pods differ), so `or` keeps them all.
const haltedExpr = `max(${ROLES.map((role) => `simd23_${role}_halted{${S}}`).join(" or ")})`;

const dashboards = [
  {
    file: "simd23-overview.json",
    uid: "simd23-overview",
    title: "simd23 / Cluster overview",
    description:
      "One testnet at a glance: slots by stage, transactions per second and confirmation latency by level, execution lag and halts.",
    panels: [
      stat("Newest slot", "Newest slot a leader has reached.", [query(`max(simd23_leader_slot{${S}})`)]),
      stat("Optimistic slot", "Newest optimistically confirmed slot (2/3 of stake voted).", [
        query(`max(simd23_vote_aggregator_optimistic_slot{${S}})`),
      ]),
      stat("Finalized slot", "Newest finalized slot (2/3 of stake on its BankHash, rooted).", [
        query(`max(simd23_vote_aggregator_finalized_slot{${S}})`),
      ]),
      stat(
        "Cluster state",
        "HALTED once any role saw a valid halt on CONTROL (more than 1/3 of stake committed a wrong BankHash).",
        [query(haltedExpr)],
        {
          mappings: [
            {
              type: "value",
              options: { 0: { text: "RUNNING", color: "green" }, 1: { text: "HALTED", color: "red" } },
            },
          ],
          thresholds: [
            { color: "green", value: null },
            { color: "red", value: 1 },
          ],
        },
      ),
      stat("Active proposers", "Size of the active proposer set.", [
        query(`max(simd23_proposer_active_proposers{${S}})`),
      ]),
      stat(
        "Execution lag",
        "Largest gap, in slots, between a validator's newest vote and its newest execution.",
        [query(`max(simd23_executor_execution_lag_slots{${S}})`)],
      ),
      series(
        "Slots by stage",
        "Newest slot produced, optimistically confirmed, executed (BankHash confirmed by more than 1/3 of stake) and finalized.",
        [
          query(`max(simd23_leader_slot{${S}})`, "leader"),
          query(`max(simd23_vote_aggregator_optimistic_slot{${S}})`, "optimistic"),
          query(`max(simd23_vote_aggregator_executed_slot{${S}})`, "executed"),
          query(`max(simd23_vote_aggregator_finalized_slot{${S}})`, "finalized"),
        ],
        { unit: "none" },
      ),
      series(
        "Transactions per second by confirmation level",
        "Transactions reaching each level per second. Every vote-aggregator replica counts every transaction, so replicas are not summed.",
        [
          query(
            `max by (level) (rate(simd23_vote_aggregator_transactions_total{${S}}[${RATE}]))`,
            "{{level}}",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "Confirmation latency p50 by level",
        "Median time from `received` to each level.",
        [
          query(
            `histogram_quantile(0.5, sum by (level, le) (rate(simd23_vote_aggregator_confirmation_latency_seconds_bucket{${S}}[${RATE}])))`,
            "{{level}}",
          ),
        ],
        { unit: "s" },
      ),
      series(
        "Confirmation latency p99 by level",
        "99th percentile of the time from `received` to each level.",
        [
          query(
            `histogram_quantile(0.99, sum by (level, le) (rate(simd23_vote_aggregator_confirmation_latency_seconds_bucket{${S}}[${RATE}])))`,
            "{{level}}",
          ),
        ],
        { unit: "s" },
      ),
      series(
        "Execution lag by validator",
        "Voted slot minus executed slot of each executor: execution runs behind voting by design, and the proposers' compute budget keeps the gap bounded.",
        [query(`max by (pod) (simd23_executor_execution_lag_slots{${S}})`, "{{pod}}")],
        { unit: "none" },
      ),
      series(
        "Optimistic confirmation time",
        "From a slot's end to its optimistic confirmation.",
        quantiles("simd23_vote_aggregator_optimistic_confirmation_seconds"),
        { unit: "s" },
      ),
      series(
        "Roles serving",
        "Replicas of each role whose health status is SERVING.",
        ROLES.map((role) => query(`sum(simd23_${role}_up{${S}})`, role.replaceAll("_", "-"))),
        { unit: "none" },
      ),
      series(
        "Halts",
        "1 for each replica that saw a valid halt on CONTROL; halts published by the BankHash verifier.",
        [
          ...ROLES.map((role) =>
            query(`sum(simd23_${role}_halted{${S}})`, `halted ${role.replaceAll("_", "-")}`),
          ),
          query(`sum(simd23_bank_hash_verifier_halts_total{${S}})`, "halts published"),
        ],
        { unit: "none" },
      ),
    ],
  },
  {
    file: "simd23-proposers.json",
    uid: "simd23-proposers",
    title: "simd23 / Proposers",
    description: "Intake, UserBlocks per proposer, refusals by reason and queue depth.",
    panels: [
      stat("Scheduled replicas", "Proposer replicas in the active proposer set.", [
        query(`sum(simd23_proposer_scheduled{${S}})`),
      ]),
      stat("Active proposers", "Size of the active proposer set.", [
        query(`max(simd23_proposer_active_proposers{${S}})`),
      ]),
      stat("Queue depth", "Transactions waiting for a UserBlock, all replicas.", [
        query(`sum(simd23_proposer_queue_depth_transactions{${S}})`),
      ]),
      stat(
        "Accepted per second",
        "Transactions and bundles accepted at intake.",
        [query(`sum(rate(simd23_proposer_transactions_accepted_total{${S}}[${RATE}]))`)],
        { unit: "reqps" },
      ),
      stat(
        "Refused per second",
        "Transactions refused at intake.",
        [query(`sum(rate(simd23_proposer_transactions_refused_total{${S}}[${RATE}]))`)],
        { unit: "reqps" },
      ),
      stat(
        "UserBlocks missed per second",
        "UserBlocks the leader did not record by the recording deadline.",
        [query(`sum(rate(simd23_proposer_user_blocks_missed_total{${S}}[${RATE}]))`)],
        { unit: "reqps" },
      ),
      series(
        "UserBlocks built per proposer",
        "UserBlocks built, signed and published per second, by genesis proposer name.",
        [
          query(
            `sum by (proposer) (rate(simd23_proposer_user_blocks_built_total{${S}}[${RATE}]))`,
            "{{proposer}}",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "UserBlocks recorded and missed per proposer",
        "Of the UserBlocks built, those the leader recorded and those it did not record in time.",
        [
          query(
            `sum by (proposer) (rate(simd23_proposer_user_blocks_recorded_total{${S}}[${RATE}]))`,
            "{{proposer}} recorded",
          ),
          query(
            `sum by (proposer) (rate(simd23_proposer_user_blocks_missed_total{${S}}[${RATE}]))`,
            "{{proposer}} missed",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "Intake by kind",
        "Accepted per second, by kind (transaction or bundle); forwarded to the proposer their fee payer is routed to; requeued from UserBlocks that were not recorded.",
        [
          query(
            `sum by (kind) (rate(simd23_proposer_transactions_accepted_total{${S}}[${RATE}]))`,
            "accepted {{kind}}",
          ),
          query(`sum(rate(simd23_proposer_transactions_forwarded_total{${S}}[${RATE}]))`, "forwarded"),
          query(`sum(rate(simd23_proposer_transactions_requeued_total{${S}}[${RATE}]))`, "requeued"),
        ],
        { unit: "reqps" },
      ),
      series(
        "Refusals by reason",
        "Transactions refused at intake, by reason; transactions given up after intake, by reason.",
        [
          query(
            `sum by (reason) (rate(simd23_proposer_transactions_refused_total{${S}}[${RATE}]))`,
            "refused {{reason}}",
          ),
          query(
            `sum by (reason) (rate(simd23_proposer_transactions_dropped_total{${S}}[${RATE}]))`,
            "dropped {{reason}}",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "Queue depth by replica",
        "Transactions waiting for a UserBlock in each proposer replica.",
        [query(`max by (pod) (simd23_proposer_queue_depth_transactions{${S}})`, "{{pod}}")],
        { unit: "none" },
      ),
      series(
        "UserBlocks refused by the leader",
        "UserBlocks the leader refused, by reason (late, early, malformed, unscheduled, bad signature, bad PoH, over limit, wrong slot, equivocation).",
        [
          query(
            `sum by (reason) (rate(simd23_leader_user_blocks_refused_total{${S}}[${RATE}]))`,
            "{{reason}}",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "Transactions per UserBlock",
        "Distribution of the number of transactions in each UserBlock.",
        quantiles("simd23_proposer_user_block_transactions"),
        { unit: "none" },
      ),
      series(
        "UserBlock size",
        "Distribution of the encoded size of each UserBlock.",
        quantiles("simd23_proposer_user_block_bytes"),
        {
          unit: "bytes",
        },
      ),
      series(
        "Intake latency",
        "Time to handle one SubmitTransaction.",
        quantiles("simd23_proposer_intake_seconds"),
        { unit: "s" },
      ),
    ],
  },
  {
    file: "simd23-leader.json",
    uid: "simd23-leader",
    title: "simd23 / Leader",
    description:
      "The PoH clock, tick drift, ledger entries, recorded UserBlocks and votes, produced and skipped slots.",
    panels: [
      stat(
        "PoH hashes per second",
        "PoH hash rate of all leader replicas.",
        [query(`sum(rate(simd23_leader_poh_hashes_total{${S}}[${RATE}]))`)],
        { unit: "short" },
      ),
      stat("Leading replicas", "Leader replicas producing a slot now.", [
        query(`sum(simd23_leader_leading{${S}})`),
      ]),
      stat(
        "Tick drift p99",
        "99th percentile of how late ticks were against their wall-clock schedule.",
        [
          query(
            `histogram_quantile(0.99, sum by (le) (rate(simd23_leader_tick_drift_seconds_bucket{${S}}[${RATE}])))`,
          ),
        ],
        { unit: "s" },
      ),
      stat("Slots skipped", "Slots skipped over the dashboard's time range.", [
        query(`sum(increase(simd23_leader_slots_skipped_total{${S}}[$__range]))`),
      ]),
      stat("Equivocations", "Equivocation evidence recorded over the dashboard's time range.", [
        query(`sum(increase(simd23_leader_equivocations_total{${S}}[$__range]))`),
      ]),
      stat("Newest slot", "Newest slot a leader has reached.", [query(`max(simd23_leader_slot{${S}})`)]),
      series(
        "PoH hash rate by replica",
        "PoH hashes per second of each leader replica; it must sustain the genesis hashesPerTick × ticksPerSlot per slot duration.",
        [query(`sum by (pod) (rate(simd23_leader_poh_hashes_total{${S}}[${RATE}]))`, "{{pod}}")],
        { unit: "short" },
      ),
      series(
        "Tick drift",
        "How late each tick was against its wall-clock schedule.",
        quantiles("simd23_leader_tick_drift_seconds", "pod", "{{pod}} "),
        { unit: "s" },
      ),
      series(
        "Entries by type",
        "Ledger entries published per second, by type.",
        [query(`sum by (type) (rate(simd23_leader_entries_total{${S}}[${RATE}]))`, "{{type}}")],
        { unit: "reqps" },
      ),
      series(
        "UserBlocks recorded and refused",
        "UserBlockEntries recorded per second; UserBlocks refused per second, by reason.",
        [
          query(`sum(rate(simd23_leader_user_blocks_recorded_total{${S}}[${RATE}]))`, "recorded"),
          query(
            `sum by (reason) (rate(simd23_leader_user_blocks_refused_total{${S}}[${RATE}]))`,
            "refused {{reason}}",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "Votes recorded",
        "Votes recorded in vote entries per second.",
        [query(`sum(rate(simd23_leader_votes_recorded_total{${S}}[${RATE}]))`, "votes")],
        { unit: "reqps" },
      ),
      series(
        "Slots produced and skipped",
        "Slots produced per second by each replica; earlier leaders' slots it ticked through.",
        [
          query(`sum by (pod) (rate(simd23_leader_slots_produced_total{${S}}[${RATE}]))`, "{{pod}} produced"),
          query(`sum by (pod) (rate(simd23_leader_slots_skipped_total{${S}}[${RATE}]))`, "{{pod}} skipped"),
        ],
        { unit: "reqps" },
      ),
      series(
        "Leading",
        "1 while the replica is producing a slot.",
        [query(`max by (pod) (simd23_leader_leading{${S}})`, "{{pod}}")],
        { unit: "none" },
      ),
    ],
  },
  {
    file: "simd23-validators.json",
    uid: "simd23-validators",
    title: "simd23 / Validators",
    description:
      "Votes, execution, repairs and BankHash agreement of the validators (executors) and the verifier's tally.",
    panels: [
      stat(
        "BankHash agreement",
        "Matched stake over total stake for the newest slot the BankHash verifier tallied.",
        [query(`min(simd23_bank_hash_verifier_bank_hash_agreement_ratio{${S}})`)],
        {
          unit: "percentunit",
          thresholds: [
            { color: "red", value: null },
            { color: "orange", value: 0.6667 },
            { color: "green", value: 1 },
          ],
        },
      ),
      stat("Verified slot", "Newest slot with a complete BankHash tally.", [
        query(`max(simd23_bank_hash_verifier_verified_slot{${S}})`),
      ]),
      stat("Mismatches", "BankHash commitments that did not match, over the dashboard's time range.", [
        query(`sum(increase(simd23_bank_hash_verifier_mismatches_total{${S}}[$__range]))`),
      ]),
      stat("Dead slots", "Slots marked dead by any validator, over the dashboard's time range.", [
        query(`sum(increase(simd23_executor_dead_slots_total{${S}}[$__range]))`),
      ]),
      stat(
        "Votes per second",
        "Votes published by all validators.",
        [query(`sum(rate(simd23_executor_votes_total{${S}}[${RATE}]))`)],
        { unit: "reqps" },
      ),
      stat("Missing UserBlocks", "UserBlocks the validators await before they can vote.", [
        query(`sum(simd23_executor_missing_user_blocks{${S}})`),
      ]),
      series(
        "Votes by validator",
        "Votes published per second by each executor.",
        [query(`sum by (pod) (rate(simd23_executor_votes_total{${S}}[${RATE}]))`, "{{pod}}")],
        { unit: "reqps" },
      ),
      series(
        "Vote latency",
        "From a slot's end to the validator's vote on it.",
        quantiles("simd23_executor_vote_latency_seconds"),
        { unit: "s" },
      ),
      series(
        "Voted, executed and root slot",
        "Newest slot each validator voted on, executed, and rooted.",
        [
          query(`max by (pod) (simd23_executor_voted_slot{${S}})`, "{{pod}} voted"),
          query(`max by (pod) (simd23_executor_executed_slot{${S}})`, "{{pod}} executed"),
          query(`max by (pod) (simd23_executor_root_slot{${S}})`, "{{pod}} root"),
        ],
        { unit: "none" },
      ),
      series(
        "Execution lag",
        "Voted slot minus executed slot of each validator.",
        [query(`max by (pod) (simd23_executor_execution_lag_slots{${S}})`, "{{pod}}")],
        { unit: "none" },
      ),
      series(
        "Slot execution time",
        "Time to execute one slot.",
        quantiles("simd23_executor_slot_execution_seconds"),
        { unit: "s" },
      ),
      series(
        "Transactions executed by status",
        "Transactions executed per second, by execution result.",
        [
          query(
            `sum by (status) (rate(simd23_executor_transactions_executed_total{${S}}[${RATE}]))`,
            "{{status}}",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "Repairs by source",
        "UserBlocks repaired per second, from the USERBLOCKS stream or a proposer's GetUserBlock; UserBlocks awaited.",
        [
          query(
            `sum by (source) (rate(simd23_executor_repairs_total{${S}}[${RATE}]))`,
            "repaired from {{source}}",
          ),
          query(`sum(simd23_executor_missing_user_blocks{${S}})`, "missing"),
        ],
        { unit: "none" },
      ),
      series(
        "BankHash agreement",
        "Matched stake over total stake for the newest tallied slot; the cluster halts when more than 1/3 does not match.",
        [query(`min(simd23_bank_hash_verifier_bank_hash_agreement_ratio{${S}})`, "agreement")],
        { unit: "percentunit", min: 0, max: 1 },
      ),
      series(
        "BankHash mismatches by validator",
        "Commitments that did not match the verifier's own execution, per second, by genesis validator name.",
        [
          query(
            `sum by (validator) (rate(simd23_bank_hash_verifier_mismatches_total{${S}}[${RATE}]))`,
            "{{validator}}",
          ),
        ],
        { unit: "reqps" },
      ),
      series(
        "Verifier progress",
        "Newest slot the BankHash verifier executed itself, and newest slot with a complete tally.",
        [
          query(`max(simd23_bank_hash_verifier_executed_slot{${S}})`, "executed slot"),
          query(`max(simd23_bank_hash_verifier_verified_slot{${S}})`, "verified slot"),
        ],
        { unit: "none" },
      ),
      series(
        "Verdicts and votes processed",
        "Verdicts the BankHash verifier published per second, by level; valid votes the vote aggregator processed per second.",
        [
          query(
            `sum by (level) (rate(simd23_bank_hash_verifier_verdicts_total{${S}}[${RATE}]))`,
            "verdicts {{level}}",
          ),
          query(`max(rate(simd23_vote_aggregator_votes_total{${S}}[${RATE}]))`, "votes aggregated"),
        ],
        { unit: "reqps" },
      ),
    ],
  },
];

function variables() {
  const labelQuery = (name, definition) => ({
    name,
    label: name,
    type: "query",
    datasource: DATASOURCE,
    definition,
    query: { query: definition, refId: `${name}-variable` },
    refresh: 2,
    sort: 1,
    includeAll: false,
    multi: false,
    hide: 0,
    current: {},
    options: [],
    regex: "",
  });
  return [
    {
      name: "datasource",
      label: "Data source",
      type: "datasource",
      query: "prometheus",
      refresh: 1,
      hide: 0,
      current: {},
      options: [],
      regex: "",
    },
    labelQuery("namespace", "label_values(simd23_executor_slot, namespace)"),
    labelQuery("testnet", 'label_values(simd23_executor_slot{namespace=~"$namespace"}, testnet)'),
  ];
}

function panelJson(panel, id, gridPos) {
  const defaults = {
    unit: panel.unit ?? "none",
    ...(panel.min !== undefined ? { min: panel.min } : {}),
    ...(panel.max !== undefined ? { max: panel.max } : {}),
    ...(panel.mappings ? { mappings: panel.mappings } : {}),
    thresholds: { mode: "absolute", steps: panel.thresholds ?? [{ color: "green", value: null }] },
    color: { mode: panel.kind === "stat" ? "thresholds" : "palette-classic" },
  };
  const options =
    panel.kind === "stat"
      ? {
          reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
          colorMode: "value",
          graphMode: "area",
          justifyMode: "auto",
          textMode: "auto",
        }
      : {
          legend: { displayMode: "list", placement: "bottom", showLegend: true },
          tooltip: { mode: "multi", sort: "desc" },
        };
  return {
    id,
    type: panel.kind,
    title: panel.title,
    description: panel.description,
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: { defaults, overrides: [] },
    options,
    targets: panel.targets.map((target, i) => ({
      datasource: DATASOURCE,
      refId: String.fromCharCode(65 + i),
      expr: target.expr,
      legendFormat: target.legendFormat,
      range: true,
    })),
  };
}

function dashboardJson(dashboard) {
  const panels = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  for (const panel of dashboard.panels) {
    if (x + panel.width > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    panels.push(panelJson(panel, panels.length + 1, { x, y, w: panel.width, h: panel.height }));
    x += panel.width;
    rowHeight = Math.max(rowHeight, panel.height);
  }
  return {
    uid: dashboard.uid,
    title: dashboard.title,
    description: dashboard.description,
    tags: ["simd23"],
    editable: true,
    graphTooltip: 1,
    refresh: "10s",
    schemaVersion: 39,
    time: { from: "now-30m", to: "now" },
    timezone: "browser",
    annotations: { list: [] },
    links: [
      {
        type: "dashboards",
        tags: ["simd23"],
        title: "simd23",
        asDropdown: true,
        includeVars: true,
        keepTime: true,
      },
    ],
    templating: { list: variables() },
    panels,
    version: 1,
  };
}

const check = process.argv.includes("--check");
let stale = 0;
for (const dashboard of dashboards) {
  const path = join(outDir, dashboard.file);
  const text = `${JSON.stringify(dashboardJson(dashboard), null, 2)}\n`;
  if (!check) {
    writeFileSync(path, text);
    continue;
  }
  let committed = "";
  try {
    committed = readFileSync(path, "utf8");
  } catch {
    // A missing file is reported as stale below.
  }
  if (committed !== text) {
    process.stderr.write(`${path} is not what scripts/chart-dashboards.mjs builds: run it\n`);
    stale++;
  }
}
if (stale > 0) process.exit(1);
