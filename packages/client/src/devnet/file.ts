import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DevnetFileError } from "../errors.js";

/** The devnet file format this code reads and writes. */
export const DEVNET_FILE_VERSION = 1;

/** One role replica of a running devnet. */
export interface DevnetProcess {
  /** `<role>-<replica>`, e.g. `proposer-0`. */
  readonly name: string;
  /** Its gRPC endpoint, `host:port`. */
  readonly address: string;
  readonly pid: number;
  /** Its Prometheus endpoint, `http://host:port/metrics`. */
  readonly metricsUrl?: string;
  readonly logFile?: string;
}

/**
 * What `simd23 devnet` writes to `<home>/devnet.json` while a testnet runs, and every other
 * command reads to find it. Keys are the replica lists of each role.
 */
export interface DevnetFile {
  readonly version: typeof DEVNET_FILE_VERSION;
  /** The namespace of every stream subject and store key of this testnet. */
  readonly namespace: string;
  readonly clusterName: string;
  /** The secret every testnet key derives from: 64 hex characters. */
  readonly clusterSeed: string;
  /** The genesis file; relative paths are relative to the devnet file's folder. */
  readonly genesisPath: string;
  /** The `simd23 devnet` process; while it lives, the devnet runs. */
  readonly pid: number;
  readonly startedAtMs: number;
  /** Where the roles' bus and store are: a URL, or `embedded` when they run in-process. */
  readonly bus?: string;
  readonly store?: string;
  readonly proposers: readonly DevnetProcess[];
  readonly leaders: readonly DevnetProcess[];
  readonly executors: readonly DevnetProcess[];
  readonly voteAggregators: readonly DevnetProcess[];
  readonly bankHashVerifiers: readonly DevnetProcess[];
}

export const DEVNET_ROLE_KEYS = [
  "proposers",
  "leaders",
  "executors",
  "voteAggregators",
  "bankHashVerifiers",
] as const;

const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/**
 * The folder simd23 keeps its local state in: `$SIMD23_HOME` when set, else `.devnet` under the
 * repository root. It holds `devnet.json` and the keys `simd23 keygen` writes (`keys/`).
 */
export function simd23Home(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.SIMD23_HOME;
  return home ? resolve(home) : join(REPO_ROOT, ".devnet");
}

/** Where commands look for the running devnet: `<home>/devnet.json`. */
export function defaultDevnetFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(simd23Home(env), "devnet.json");
}

/** `host:port` with a port from 1 to 65535 (a `dns:`/`unix:` target is taken as given). */
export function isEndpointAddress(address: string): boolean {
  if (/^(dns|unix|ipv4|ipv6):/.test(address)) return address.length > 5;
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65_535;
}

type Json = Record<string, unknown>;

class FieldError extends Error {}

function objectAt(value: unknown, path: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new FieldError(`${path}: expected an object`);
  return value as Json;
}

function stringAt(value: unknown, path: string): string {
  if (typeof value !== "string" || value.length === 0)
    throw new FieldError(`${path}: expected a non-empty string`);
  return value;
}

function integerAt(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new FieldError(`${path}: expected a non-negative integer`);
  return value;
}

function processAt(value: unknown, path: string): DevnetProcess {
  const raw = objectAt(value, path);
  const address = stringAt(raw.address, `${path}.address`);
  if (!isEndpointAddress(address))
    throw new FieldError(`${path}.address: expected host:port, got "${address}"`);
  return {
    name: stringAt(raw.name, `${path}.name`),
    address,
    pid: integerAt(raw.pid, `${path}.pid`),
    ...(raw.metricsUrl === undefined ? {} : { metricsUrl: stringAt(raw.metricsUrl, `${path}.metricsUrl`) }),
    ...(raw.logFile === undefined ? {} : { logFile: stringAt(raw.logFile, `${path}.logFile`) }),
  };
}

/** Checks parsed JSON against the devnet file format; throws a DevnetFileError naming the field. */
export function parseDevnetFile(json: unknown, path = "devnet.json"): DevnetFile {
  try {
    const raw = objectAt(json, "the file");
    if (raw.version !== DEVNET_FILE_VERSION)
      throw new FieldError(
        `version: expected ${DEVNET_FILE_VERSION}, got ${JSON.stringify(raw.version)} (written by another simd23 version?)`,
      );
    const clusterSeed = stringAt(raw.clusterSeed, "clusterSeed");
    if (!/^[0-9a-fA-F]{64}$/.test(clusterSeed))
      throw new FieldError("clusterSeed: expected 64 hex characters");
    const roles = {} as Record<(typeof DEVNET_ROLE_KEYS)[number], DevnetProcess[]>;
    for (const key of DEVNET_ROLE_KEYS) {
      const list = raw[key];
      if (!Array.isArray(list)) throw new FieldError(`${key}: expected an array`);
      roles[key] = list.map((item, i) => processAt(item, `${key}[${i}]`));
    }
    return {
      version: DEVNET_FILE_VERSION,
      namespace: stringAt(raw.namespace, "namespace"),
      clusterName: stringAt(raw.clusterName, "clusterName"),
      clusterSeed: clusterSeed.toLowerCase(),
      genesisPath: stringAt(raw.genesisPath, "genesisPath"),
      pid: integerAt(raw.pid, "pid"),
      startedAtMs: integerAt(raw.startedAtMs, "startedAtMs"),
      ...(raw.bus === undefined ? {} : { bus: stringAt(raw.bus, "bus") }),
      ...(raw.store === undefined ? {} : { store: stringAt(raw.store, "store") }),
      ...roles,
    };
  } catch (error) {
    if (error instanceof FieldError) throw new DevnetFileError(path, `not a devnet file: ${error.message}`);
    throw error;
  }
}

export function devnetFileToJson(file: DevnetFile): string {
  return `${JSON.stringify(parseDevnetFile(file), null, 2)}\n`;
}

/** Reads and checks a devnet file; throws a DevnetFileError that names the file. */
export function readDevnetFile(path: string): DevnetFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DevnetFileError(
      path,
      code === "ENOENT"
        ? "no devnet file here: start a devnet with `pnpm devnet`, or name the endpoints with flags"
        : `cannot read: ${code ?? (error as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DevnetFileError(path, `not JSON: ${(error as Error).message}`);
  }
  return parseDevnetFile(json, path);
}

/**
 * Writes a devnet file atomically (a reader never sees half of one), after checking it, so
 * `simd23 devnet` and its readers share one format. Mode 0600: it holds the cluster seed.
 */
export function writeDevnetFile(path: string, file: DevnetFile): void {
  const text = devnetFileToJson(file);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(temporary, text, { mode: 0o600 });
    renameSync(temporary, path);
  } catch (error) {
    throw new DevnetFileError(path, `cannot write: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

/** The genesis path of a devnet file, resolved against the file's folder. */
export function devnetGenesisPath(file: DevnetFile, devnetFilePath: string): string {
  return isAbsolute(file.genesisPath) ? file.genesisPath : resolve(dirname(devnetFilePath), file.genesisPath);
}

/** Whether the devnet's supervising process is alive (a process of another user counts). */
export function isDevnetRunning(file: DevnetFile): boolean {
  try {
    process.kill(file.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
