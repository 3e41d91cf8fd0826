import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, createWriteStream, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

/** Where Debian's `prometheus` package installs the server. */
const DEBIAN_PROMETHEUS = "/usr/bin/prometheus";

/**
 * The Prometheus server to run: $SIMD23_PROMETHEUS, else `prometheus` on PATH, else Debian's.
 * Throws with the install command when there is none (.ci/run installs it).
 */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.SIMD23_PROMETHEUS,
    ...(env.PATH ?? "").split(":").map((dir) => (dir ? join(dir, "prometheus") : undefined)),
    DEBIAN_PROMETHEUS,
  ].filter((path): path is string => path !== undefined && path !== "");
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // Not here: the next candidate.
    }
  }
  throw new Error(
    "no prometheus server found ($SIMD23_PROMETHEUS, PATH, /usr/bin/prometheus): install Debian's package with `apt-get install prometheus` (.ci/run does)",
  );
}

/** `prometheus --version`'s first line, for the test log. */
export function prometheusVersion(binary: string): string {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8" });
  return `${result.stdout}${result.stderr}`.split("\n")[0] ?? "";
}

/** A scrape target with the labels the chart's ServiceMonitor and the Prometheus Operator give its series. */
export interface ScrapeTarget {
  /** `host:port` of the /metrics endpoint. */
  readonly address: string;
  readonly metricsPath: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A prometheus.yml that scrapes every target every `scrapeSeconds` and evaluates the rule files as often. */
export function prometheusConfig(
  targets: readonly ScrapeTarget[],
  scrapeSeconds: number,
  ruleFiles: readonly string[],
): string {
  const interval = `${scrapeSeconds}s`;
  return stringify({
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: ruleFiles,
    scrape_configs: targets.map((target, i) => ({
      job_name: `simd23-${i}`,
      metrics_path: target.metricsPath,
      static_configs: [{ targets: [target.address], labels: target.labels }],
    })),
  });
}

interface ApiAnswer<T> {
  readonly status: "success" | "error";
  readonly data: T;
  readonly errorType?: string;
  readonly error?: string;
  readonly warnings?: string[];
}

/** A series of an instant (`value`) or range (`values`) query. */
export interface ResultSeries {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: [number, string][];
}

export interface RuleState {
  readonly name: string;
  readonly type: "recording" | "alerting";
  readonly health: string;
  readonly lastError?: string;
  readonly lastEvaluation: string;
  readonly state?: string;
  readonly alerts?: readonly { readonly labels: Record<string, string>; readonly state: string }[];
}

export interface TargetState {
  readonly labels: Record<string, string>;
  readonly health: string;
  readonly lastError: string;
  readonly lastScrape: string;
}

/** A Prometheus server this test started, with the HTTP API calls it makes. */
export class PrometheusServer {
  private exitCode: number | null | undefined;

  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    child.once("exit", (code) => {
      this.exitCode = code;
    });
  }

  /**
   * Runs `binary` with the config on 127.0.0.1:`port`, its storage in `dir`, and waits until it
   * answers ready; its log goes to `<dir>/prometheus.log`.
   */
  static async start(binary: string, dir: string, config: string, port: number): Promise<PrometheusServer> {
    const configFile = join(dir, "prometheus.yml");
    writeFileSync(configFile, config);
    const logFile = join(dir, "prometheus.log");
    const log = createWriteStream(logFile);
    const child = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, logFile);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (server.exitCode !== undefined)
        throw new Error(`prometheus exited (${server.exitCode}) at start:\n${server.log()}`);
      const ready = await fetch(`${server.url}/-/ready`).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) return server;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await server.stop();
    throw new Error(`prometheus did not answer ready on port ${port} in 30 s:\n${server.log()}`);
  }

  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "(no log)";
    }
  }

  /** A GET of the API (queries are POSTed: a long expression does not fit every URL). */
  private async api<T>(path: string, params: Record<string, string> = {}, method = "GET"): Promise<T> {
    const form = new URLSearchParams(params);
    const response =
      method === "POST"
        ? await fetch(`${this.url}${path}`, { method, body: form })
        : await fetch(`${this.url}${path}?${form}`);
    const answer = (await response.json()) as ApiAnswer<T>;
    if (answer.status !== "success") throw new Error(`${answer.errorType}: ${answer.error}`);
    return answer.data;
  }

  /** `/api/v1/query` at `time` (seconds). */
  async query(expr: string, time: number): Promise<ResultSeries[]> {
    const data = await this.api<{ resultType: string; result: ResultSeries[] | [number, string] }>(
      "/api/v1/query",
      { query: expr, time: String(time) },
      "POST",
    );
    // A scalar expression answers one value rather than series.
    return data.resultType === "scalar" || data.resultType === "string"
      ? [{ metric: {}, value: data.result as [number, string] }]
      : (data.result as ResultSeries[]);
  }

  /** `/api/v1/query_range` from `start` to `end` (seconds) every `step` seconds. */
  async queryRange(expr: string, start: number, end: number, step: number): Promise<ResultSeries[]> {
    const data = await this.api<{ result: ResultSeries[] }>(
      "/api/v1/query_range",
      { query: expr, start: String(start), end: String(end), step: String(step) },
      "POST",
    );
    return data.result;
  }

  /** `/api/v1/label/<label>/values`, of the series `match` selects when given. */
  labelValues(label: string, match?: string): Promise<string[]> {
    return this.api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, {
      ...(match === undefined ? {} : { "match[]": match }),
    });
  }

  async rules(): Promise<RuleState[]> {
    const data = await this.api<{ groups: { rules: RuleState[] }[] }>("/api/v1/rules");
    return data.groups.flatMap((group) => group.rules);
  }

  async targets(): Promise<TargetState[]> {
    return (await this.api<{ activeTargets: TargetState[] }>("/api/v1/targets")).activeTargets;
  }

  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
