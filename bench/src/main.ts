import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  asSuiteResult,
  formatFigure,
  formatTable,
  loadAverage,
  machine,
  type Suite,
  type SuiteResult,
  stopTrackedChildren,
} from "./harness.js";
import { BenchServers, type ServerInfo } from "./servers.js";

// `pnpm bench` runs every suite; `pnpm bench poh cluster` only those named. Every module in
// suites/ default-exports a Suite. The report goes to stdout and to bench/results/<date>.md
// (a subset run: <date>-<suites>.md), with its charts beside it and every figure in <name>.json.

const suitesDir = fileURLToPath(new URL("./suites/", import.meta.url));
const resultsDir = fileURLToPath(new URL("../results/", import.meta.url));
const requested = process.argv.slice(2);

const available: Suite[] = [];
for (const file of readdirSync(suitesDir)
  .filter((f) => f.endsWith(".js"))
  .sort()) {
  const module = (await import(new URL(`./suites/${file}`, import.meta.url).href)) as { default: Suite };
  available.push(module.default);
}
const unknown = requested.filter((name) => !available.some((suite) => suite.name === name));
if (unknown.length > 0) {
  console.error(
    `unknown suite${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; the suites are ${available.map((s) => s.name).join(", ")}`,
  );
  process.exit(2);
}
const suites =
  requested.length === 0 ? available : available.filter((suite) => requested.includes(suite.name));

// First Ctrl-C (or SIGTERM): stop measuring, let every suite clean up, write no report.
// A second one: stop whatever still runs and exit at once.
const interruption = new AbortController();
let signals = 0;
const onSignal = (signal: NodeJS.Signals) => {
  signals++;
  if (signals > 1) process.exit(130);
  console.error(`\n${signal}: stopping; cleaning up what the bench started (again to force)`);
  interruption.abort(new Error(`interrupted by ${signal}`));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

const natsUrl = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const redisUrl = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const needsServers = suites.some((suite) => (suite.needs ?? []).length > 0);
const servers = needsServers ? await BenchServers.prepare(natsUrl, redisUrl) : undefined;
process.once("exit", () => {
  stopTrackedChildren();
  servers?.killNow();
});
const serverLine = (name: string, info: ServerInfo | { error: string } | undefined) =>
  info === undefined
    ? `${name}: not needed`
    : "error" in info
      ? `${name}: unavailable (${info.error})`
      : `${name} ${info.version} at ${info.url}${info.started ? " (started by the bench for this run)" : ""}`;

const started = new Date();
const stamp = started.toISOString().slice(0, 10);
const reportName = requested.length === 0 ? stamp : `${stamp}-${suites.map((s) => s.name).join("-")}`;
const lines = [
  `# simd23 benchmarks, ${started.toISOString()}`,
  "",
  `- Command: \`pnpm bench${requested.length > 0 ? ` ${requested.join(" ")}` : ""}\``,
  `- Machine: ${machine()}`,
  `- ${serverLine("NATS", servers?.nats)}; ${serverLine("Redis", servers?.redis)}`,
  `- Load average at the start (1, 5, 15 min): ${loadAverage()}`,
  "",
];
console.log(lines.join("\n"));

const log = (line: string) =>
  console.error(`  [${((Date.now() - started.getTime()) / 1000).toFixed(0)} s] ${line}`);
const json: { started: string; machine: string; suites: Record<string, unknown> } = {
  started: started.toISOString(),
  machine: machine(),
  suites: {},
};
const failed: string[] = [];
for (const suite of suites) {
  if (interruption.signal.aborted) break;
  const section = [`## ${suite.name}`, "", suite.description, ""];
  console.log(section.join("\n"));
  const loadBefore = loadAverage();
  const suiteStarted = performance.now();
  const missing = (suite.needs ?? []).flatMap((dependency) => {
    const info = dependency === "nats" ? servers?.nats : servers?.redis;
    return info === undefined || "error" in info
      ? [serverLine(dependency === "nats" ? "NATS" : "Redis", info)]
      : [];
  });
  let result: SuiteResult | undefined;
  let error: string | undefined;
  if (missing.length > 0) error = missing.join("; ");
  else {
    try {
      result = asSuiteResult(
        await suite.run({
          signal: interruption.signal,
          natsUrl: servers?.nats && "url" in servers.nats ? servers.nats.url : natsUrl,
          redisUrl: servers?.redis && "url" in servers.redis ? servers.redis.url : redisUrl,
          log,
        }),
      );
    } catch (caught) {
      error = (caught as Error)?.stack ?? String(caught);
    }
  }
  if (interruption.signal.aborted) break;
  const seconds = (performance.now() - suiteStarted) / 1000;
  const body: string[] = [
    `_${seconds.toFixed(0)} s; load average before ${loadBefore}, after ${loadAverage()}_`,
    "",
  ];
  if (error !== undefined) {
    failed.push(suite.name);
    body.push(`**FAILED**: ${error.split("\n").slice(0, 6).join("\n    ")}`, "");
  } else if (result !== undefined) {
    for (const figure of result.figures)
      body.push(`- ${formatFigure(figure)}${figure.note ? ` (${figure.note})` : ""}`);
    body.push("");
    for (const table of result.tables ?? []) body.push(formatTable(table), "");
    for (const plot of result.plots ?? []) {
      const file = `${reportName}-${plot.name}.svg`;
      mkdirSync(resultsDir, { recursive: true });
      writeFileSync(`${resultsDir}${file}`, plot.svg);
      body.push(`![${plot.title}](${file})`, "");
    }
    json.suites[suite.name] = { seconds, figures: result.figures, tables: result.tables ?? [] };
  }
  console.log(body.join("\n"));
  lines.push(...section, ...body);
}

if (interruption.signal.aborted) {
  await servers?.stop();
  console.error("interrupted: no report written");
  process.exit(130);
}
await servers?.stop();
const totalSeconds = (Date.now() - started.getTime()) / 1000;
lines.push(`Total: ${totalSeconds.toFixed(0)} s; load average at the end ${loadAverage()}.`, "");
mkdirSync(resultsDir, { recursive: true });
writeFileSync(`${resultsDir}${reportName}.md`, `${lines.join("\n")}\n`);
writeFileSync(`${resultsDir}${reportName}.json`, `${JSON.stringify({ ...json, totalSeconds }, null, 2)}\n`);
console.log(`Total: ${totalSeconds.toFixed(0)} s. Report written to ${resultsDir}${reportName}.md`);
if (failed.length > 0) {
  console.error(`failed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
// A stray handle (a gRPC channel closing) must not hold the exit.
setTimeout(() => process.exit(), 2_000).unref();
