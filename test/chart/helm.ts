import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const chartDir = fileURLToPath(new URL("../../charts/testnet", import.meta.url));
const helmScript = fileURLToPath(new URL("../../scripts/helm.mjs", import.meta.url));

export interface HelmResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs helm through scripts/helm.mjs, as a user of the repository would. */
export function helm(args: readonly string[]): HelmResult {
  const result = spawnSync(process.execPath, [helmScript, ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A rendered Kubernetes object (only the fields the tests read are typed). */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
    readonly annotations?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

/** `helm template` of the chart as release "testnet"; throws with helm's message when it fails. */
export function render(args: readonly string[] = []): Manifest[] {
  const result = helm(["template", "testnet", chartDir, "--namespace", "simd23", ...args]);
  if (result.status !== 0) throw new Error(`helm template failed:\n${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
}

export function find(manifests: readonly Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among the rendered manifests`);
  return found;
}

/** Values that `helm template` would otherwise generate anew on every render (it cannot look them up). */
export const PINNED: readonly string[] = [
  "--set",
  "genesis.startTimeMs=1767225600000",
  "--set",
  "clusterSeed.value=5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed",
  "--set",
  "nats.auth.password=nats-password",
  "--set",
  "redis.auth.password=redis-password",
];

/** The values cases under charts/testnet/ci (`<name>-values.yaml`), by name. */
export function ciValues(): Map<string, string> {
  return new Map(
    readdirSync(join(chartDir, "ci"))
      .filter((file) => file.endsWith("-values.yaml"))
      .sort()
      .map((file) => [file.replace(/-values\.yaml$/, ""), join(chartDir, "ci", file)]),
  );
}
