import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  connect,
  type DevnetFile,
  type DevnetProcess,
  type Keypair,
  loadDevnet,
  memoInstruction,
  readDevnetFile,
  type Simd23Client,
  TransactionRejectedError,
} from "@simd23/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { freePort } from "../../packages/client/src/devnet/ports.js";
import { chartDir, helm, PINNED, repoRoot } from "../chart/helm.js";
import { metricNames } from "../chart/promql.js";
import { METRIC_ROLES, type MetricRole, parseCatalogue } from "./catalogue.js";
import { exportProblems, extraMetrics, type MetricReference } from "./checks.js";
import { interruptDevnet, killDevnet, type RunningDevnet, simd23, startDevnet, succeeded } from "./devnet.js";
import { type MetricFamily, parseExposition } from "./exposition.js";
import {
  builtinVariables,
  defaultOption,
  grafanaIntervals,
  loadDashboards,
  panelTargets,
  parseLabelValuesQuery,
  relativeSeconds,
  substitute,
} from "./grafana.js";
import {
  findPrometheus,
  PrometheusServer,
  prometheusConfig,
  prometheusVersion,
  type ScrapeTarget,
} from "./prometheus.js";

// Issue 7's proof that the chart's dashboards and alert rules work: `simd23 devnet` as a user
// starts it (the built CLI, on the real NATS and Redis), with a modest load and the events the
// dashboards show (a bundle, refused and dropped transactions, a wrong BankHash, repaired and
// equivocating UserBlocks); then (1) every role's /metrics against docs/metrics.md and the
// metrics the dashboards and rules name, and (2) Debian's Prometheus, scraping the devnet every
// second with the chart's PrometheusRule loaded, answering every panel's query.

const SCRAPE_SECONDS = 1;
/** Data points Grafana asks for over a panel's width: $__interval is the range over this. */
const MAX_DATA_POINTS = 1_000;
const catalogue = parseCatalogue(readFileSync(join(repoRoot, "docs/metrics.md"), "utf8"));
const dashboards = loadDashboards(join(chartDir, "dashboards"));

/** The devnet file's replica lists by metric role, with the chart's component name of the role. */
const ROLES: Readonly<Record<MetricRole, { readonly key: ReplicaList; readonly component: string }>> = {
  proposer: { key: "proposers", component: "proposer" },
  leader: { key: "leaders", component: "leader" },
  executor: { key: "executors", component: "executor" },
  vote_aggregator: { key: "voteAggregators", component: "vote-aggregator" },
  bank_hash_verifier: { key: "bankHashVerifiers", component: "bank-hash-verifier" },
};
type ReplicaList = "proposers" | "leaders" | "executors" | "voteAggregators" | "bankHashVerifiers";

const KEEP = process.env.SIMD23_KEEP_E2E_LOGS !== undefined;
const dirs: string[] = [];
let devnet: RunningDevnet | undefined;
let prometheus: PrometheusServer | undefined;
let file: DevnetFile;
/** The genesis name of the validator that commits a wrong BankHash. */
let faultyValidator = "";
let prometheusRules: { record?: string; alert?: string; expr: string }[] = [];

function newDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function log(line: string): void {
  console.log(`[metrics e2e] ${line}`);
}

function replicas(role: MetricRole): readonly DevnetProcess[] {
  return file[ROLES[role].key];
}

function scrapeTargets(): ScrapeTarget[] {
  return METRIC_ROLES.flatMap((role) =>
    replicas(role).map((replica) => {
      if (replica.metricsUrl === undefined)
        throw new Error(`the devnet file gives ${replica.name} no metricsUrl`);
      const url = new URL(replica.metricsUrl);
      return {
        address: url.host,
        metricsPath: url.pathname,
        // What the ServiceMonitor's relabelings and the Prometheus Operator put on every series.
        labels: {
          namespace: file.namespace,
          testnet: file.clusterName,
          role: ROLES[role].component,
          pod: replica.name,
        },
      };
    }),
  );
}

/** The chart's PrometheusRule as `helm template` renders it for this testnet's namespace and release. */
function renderRuleGroups(
  namespace: string,
  release: string,
): { name: string; rules: typeof prometheusRules }[] {
  const result = helm([
    "template",
    release,
    chartDir,
    "--namespace",
    namespace,
    ...PINNED,
    "--set",
    "metrics.prometheusRule.enabled=true",
    "--show-only",
    "templates/prometheusrule.yaml",
  ]);
  if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return (parse(result.stdout) as { spec: { groups: { name: string; rules: typeof prometheusRules }[] } })
    .spec.groups;
}

async function scrape(replica: DevnetProcess): Promise<Map<string, MetricFamily>> {
  const response = await fetch(replica.metricsUrl!);
  if (!response.ok) throw new Error(`${replica.name}: GET ${replica.metricsUrl} answered ${response.status}`);
  return parseExposition(await response.text());
}

async function counterOf(replica: DevnetProcess, name: string): Promise<number> {
  const family = (await scrape(replica)).get(name);
  return (family?.samples ?? []).reduce((sum, sample) => sum + sample.value, 0);
}

/**
 * Sends memo transactions with a blockhash held since it was new, one every 100 ms from three
 * slots before its last valid slot until a proposer refuses it as expired: those accepted at
 * the last moment expire before a UserBlock can be recorded, and the proposer drops them.
 * Returns how many were accepted, dropped and refused.
 */
async function sendUntilExpired(
  client: Simd23Client,
  held: { blockhash: Uint8Array; lastValidSlot: number },
  payer: Keypair,
  tag: string,
): Promise<{ accepted: number; dropped: number; refused: number }> {
  const deadline = Date.now() + 120_000;
  while ((await client.getLatestBlockhash()).slot < held.lastValidSlot - 3) {
    if (Date.now() > deadline)
      throw new Error("the ledger did not reach the held blockhash's last valid slot");
    await sleep(100);
  }
  const accepted: string[] = [];
  let refused = 0;
  for (let i = 0; i < 80 && refused === 0; i++) {
    const transaction = client.sign({
      signers: [payer],
      instructions: [memoInstruction(`metrics e2e ${tag} ${i}`)],
      recentBlockhash: held.blockhash,
    });
    try {
      accepted.push((await client.sendTransaction(transaction)).signature);
    } catch (error) {
      if (!(error instanceof TransactionRejectedError)) throw error;
      refused++;
    }
    await sleep(100);
  }
  let dropped = 0;
  const settled = Date.now() + 10_000;
  while (Date.now() < settled) {
    const statuses = await client.getSignatureStatuses(accepted);
    dropped = statuses.filter((status) => status.level === "dropped").length;
    if (
      dropped > 0 ||
      statuses.every((status) => status.level === "executed" || status.level === "finalized")
    )
      break;
    await sleep(500);
  }
  return { accepted: accepted.length, dropped, refused };
}

beforeAll(async () => {
  const binary = findPrometheus();
  log(`prometheus: ${binary} (${prometheusVersion(binary)})`);
  const startedAt = Date.now();
  const home = newDir("simd23-e2e-metrics-");
  devnet = await startDevnet(home);
  const devnetFilePath = join(home, "devnet.json");
  file = readDevnetFile(devnetFilePath);
  const loaded = loadDevnet(devnetFilePath);
  faultyValidator = loaded.genesis.validators[3]?.name ?? "";
  log(`devnet ${file.namespace} ready after ${((Date.now() - startedAt) / 1_000).toFixed(1)} s`);
  const client = connect({ ...loaded.options, rpcTimeoutMs: 5_000 });
  try {
    // Refused and dropped transactions, while the other events go on: a blockhash held from now
    // until it expires (blockhashValiditySlots: a minute on a devnet), and if none of the last
    // ones it was sent with was dropped, a second one held from 20 s later.
    const expiring = (async () => {
      const early = await client.getLatestBlockhash();
      const [first, late] = await Promise.all([
        sendUntilExpired(client, early, loaded.faucet, "early"),
        sleep(20_000).then(() => client.getLatestBlockhash()),
      ]);
      return first.dropped > 0
        ? [first]
        : [first, await sendUntilExpired(client, late, loaded.faucet, "late")];
    })();
    // Awaited below; until then a failure must not count as unhandled (another event may fail first).
    expiring.catch(() => undefined);

    const groups = renderRuleGroups(file.namespace, file.clusterName);
    prometheusRules = groups.flatMap((group) => group.rules);
    const promDir = newDir("simd23-e2e-prometheus-");
    const rulesFile = join(promDir, "rules.yaml");
    writeFileSync(rulesFile, stringify({ groups }));
    const port = await freePort();
    prometheus = await PrometheusServer.start(
      binary,
      promDir,
      prometheusConfig(scrapeTargets(), SCRAPE_SECONDS, [rulesFile]),
      port,
    );
    log(
      `prometheus on ${prometheus.url}, scraping ${scrapeTargets().length} replicas every ${SCRAPE_SECONDS} s`,
    );

    // executor-3 commits wrong BankHashes (the verifier counts mismatches, the validator marks
    // slots dead) and ignores proposer-0's live UserBlocks, so it repairs them.
    succeeded(
      await simd23(home, [
        "devnet",
        "restart",
        "executor-3",
        "--fault",
        "wrong-bank-hash",
        "--env",
        "SIMD23_FAULT_IGNORE_USER_BLOCKS_FROM=proposer-0",
      ]),
    );
    log(`executor-3 restarted with wrong-bank-hash and ignored UserBlocks at +${seconds(startedAt)} s`);

    // A modest load, and a bundle beside it.
    const [load, bundle] = await Promise.all([
      simd23(home, ["load", "--rate", "100", "--duration", "10s", "--until", "executed"], 150_000),
      simd23(home, ["bundle", "memo:metrics-e2e-1", "memo:metrics-e2e-2", "--wait", "executed"]),
    ]);
    log(`load at +${seconds(startedAt)} s:\n${load.stdout}${load.stderr}`);
    succeeded(load);
    succeeded(bundle);

    // proposer-2 equivocates: the leader refuses both UserBlocks of each of its UserBlockSlots,
    // records the evidence, and proposer-2 counts them missed.
    succeeded(await simd23(home, ["devnet", "restart", "proposer-2", "--fault", "equivocate"]));
    const leader = replicas("leader")[0]!;
    const equivocationsBy = Date.now() + 30_000;
    while (
      (await counterOf(leader, "simd23_leader_equivocations_total")) === 0 &&
      Date.now() < equivocationsBy
    )
      await sleep(500);
    log(`proposer-2 equivocating at +${seconds(startedAt)} s`);

    log(`transactions sent with a held blockhash: ${JSON.stringify(await expiring)}`);
  } finally {
    client.close();
  }

  // Rates span four scrapes: let every series of the last events have them, and every rule run.
  await sleep((4 * SCRAPE_SECONDS + 2) * 1_000);
  log(`events done at +${seconds(startedAt)} s`);
}, 240_000);

function seconds(since: number): string {
  return ((Date.now() - since) / 1_000).toFixed(1);
}

afterAll(async () => {
  await prometheus?.stop();
  if (devnet !== undefined) {
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      interruptDevnet(devnet).catch((error: Error) => error.message),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve("no exit 45 s after Ctrl-C"), 45_000);
      }),
    ]);
    clearTimeout(timer);
    if (exit !== 0) {
      log(`devnet Ctrl-C: ${exit}; last lines:\n${devnet.lines.slice(-10).join("\n")}`);
      killDevnet(devnet);
    }
  }
  if (KEEP) log(`kept: ${dirs.join(" ")}`);
  else for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Every metric name a dashboard (panels and variables) or a rule of the PrometheusRule selects, with where. */
function referencedMetrics(): MetricReference[] {
  const fromDashboards = dashboards.flatMap((dashboard) => [
    ...panelTargets(dashboard),
    ...dashboard.templating.list
      .filter((variable) => variable.type === "query")
      .map((variable) => ({
        where: `${dashboard.file} / variable ${variable.name}`,
        expr: variable.definition ?? "",
      })),
  ]);
  const fromRules = prometheusRules.map((rule) => ({
    where: `PrometheusRule / ${rule.record ?? rule.alert}`,
    expr: rule.expr,
  }));
  return [...fromDashboards, ...fromRules].flatMap(({ where, expr }) =>
    metricNames(expr).map((name) => ({ where, name })),
  );
}

describe("a running devnet's metrics", () => {
  it("every role's /metrics exports what docs/metrics.md lists and every metric a dashboard or rule names, with its type and labels", async () => {
    const scraped = await Promise.all(
      METRIC_ROLES.flatMap((role) =>
        replicas(role).map(async (replica) => ({
          role,
          replica: replica.name,
          families: await scrape(replica),
        })),
      ),
    );
    const extras = extraMetrics(catalogue, scraped);
    // Names docs/metrics.md does not list are reported, not failed: the catalogue is the contract
    // the dashboards are built on, and an extra series breaks none of them.
    if (extras.size > 0)
      log(
        `exported but not in docs/metrics.md:\n${[...extras].map(([name, where]) => `  ${name}: ${where.join(", ")}`).join("\n")}`,
      );
    expect(exportProblems(catalogue, scraped, referencedMetrics())).toEqual([]);
  });

  it("Prometheus scraping the devnet answers every dashboard panel's query, and the chart's rules evaluate", async () => {
    const server = prometheus!;
    const problems: string[] = [];

    const targets = await server.targets();
    for (const target of targets)
      if (target.health !== "up")
        problems.push(`scrape of ${target.labels.pod}: ${target.health} (${target.lastError})`);
    expect(problems, "every replica is scraped").toEqual([]);

    const now = Math.floor(Date.now() / 1_000);
    let queries = 0;
    for (const dashboard of dashboards) {
      const intervals = grafanaIntervals(
        relativeSeconds(dashboard.time.from),
        SCRAPE_SECONDS,
        MAX_DATA_POINTS,
      );
      const values: Record<string, string> = builtinVariables(intervals);
      for (const variable of dashboard.templating.list) {
        if (variable.type === "datasource") {
          values[variable.name] = "prometheus";
          continue;
        }
        if (variable.type !== "query" || variable.includeAll || variable.multi) {
          problems.push(
            `${dashboard.file} / variable ${variable.name}: a ${variable.type} variable this test cannot resolve`,
          );
          continue;
        }
        const { label, match } = parseLabelValuesQuery(substitute(variable.definition ?? "", values));
        const options = await server.labelValues(label, match);
        const option = defaultOption(options, variable.sort);
        if (option === undefined) {
          problems.push(`${dashboard.file} / variable ${variable.name}: ${variable.definition} has no value`);
          continue;
        }
        values[variable.name] = option;
      }
      if (values.namespace !== file.namespace)
        problems.push(
          `${dashboard.file}: the namespace a user sees first is ${values.namespace}, not the devnet's ${file.namespace}`,
        );

      const start = now - intervals.rangeSeconds;
      for (const target of panelTargets(dashboard)) {
        let expr: string;
        try {
          expr = substitute(target.expr, values);
        } catch (error) {
          problems.push(`${target.where}: ${(error as Error).message}`);
          continue;
        }
        queries++;
        try {
          const instant = await server.query(expr, now);
          if (instant.length === 0) problems.push(`${target.where}: no data now: ${expr}`);
          const range = await server.queryRange(expr, start, now, intervals.intervalSeconds);
          const finite = range.some((series) =>
            (series.values ?? []).some(([, v]) => Number.isFinite(Number(v))),
          );
          if (!finite)
            problems.push(
              `${target.where}: no number over the dashboard's ${dashboard.time.from} range: ${expr}`,
            );
        } catch (error) {
          problems.push(`${target.where}: Prometheus refused ${expr}: ${(error as Error).message}`);
        }
      }
    }
    log(`${queries} panel queries sent to Prometheus`);

    // Every rule of the PrometheusRule is loaded, has run, and none is in error.
    const evaluatedBy = Date.now() + 15_000;
    let rules = await server.rules();
    while (rules.some((rule) => rule.health === "unknown") && Date.now() < evaluatedBy) {
      await sleep(500);
      rules = await server.rules();
    }
    const loadedNames = rules.map((rule) => rule.name).sort();
    expect(loadedNames, "the rules Prometheus loaded").toEqual(
      prometheusRules.map((rule) => rule.record ?? rule.alert).sort(),
    );
    for (const rule of rules)
      if (rule.health !== "ok")
        problems.push(`rule ${rule.name}: ${rule.health} ${rule.lastError ?? ""}`.trim());

    const selector = `{namespace="${file.namespace}", testnet="${file.clusterName}"}`;
    for (const rule of prometheusRules.filter((r) => r.record !== undefined)) {
      const series = await server.query(`${rule.record}${selector}`, Math.floor(Date.now() / 1_000));
      if (series.length === 0) problems.push(`recording rule ${rule.record}: no series (from ${rule.expr})`);
    }

    // The alerts see what the devnet did: executor-3's wrong BankHashes, and no halt or stall.
    const alert = (name: string) => rules.find((rule) => rule.name === name);
    const mismatch = alert("Simd23BankHashMismatch");
    if (!mismatch?.alerts?.some((a) => a.state === "firing" && a.labels.validator === faultyValidator))
      problems.push(
        `alert Simd23BankHashMismatch does not fire for ${faultyValidator}: ${JSON.stringify(mismatch?.alerts)}`,
      );
    for (const name of ["Simd23ClusterHalted", "Simd23ConfirmationStalled"])
      if (alert(name)?.state !== "inactive")
        problems.push(`alert ${name} is ${alert(name)?.state} on a running, unhalted devnet`);

    expect(problems).toEqual([]);
  });
});
