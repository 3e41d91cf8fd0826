import { statSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { describeFoundValue } from "./private/redact.js";

/** The environment a configuration is read from: `process.env` unless a test passes its own. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The log levels pino knows, in the order of increasing detail. */
export const LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Schemas for one environment variable each. Every schema reads a string (or nothing, when the
 * variable is unset) and says in its error what it expected, so a configuration error reads
 * `SIMD23_GRPC_PORT: expected a TCP port from 0 to 65535, found "http"`. Chain `.default(value)`
 * (with the parsed value) or `.optional()` as with any zod schema.
 */
export const envVar = {
  /** Any non-empty string, or one matching `pattern`; `expected` describes it in errors. */
  string(options: { readonly pattern?: RegExp; readonly expected?: string } = {}) {
    const expected =
      options.expected ?? (options.pattern ? `a string matching ${options.pattern}` : "a string");
    const base = z.string({ error: expected });
    return options.pattern ? base.regex(options.pattern, { error: expected }) : base;
  },

  /** A decimal integer within [min, max]. */
  integer(options: { readonly min?: number; readonly max?: number } = {}) {
    const min = options.min ?? Number.MIN_SAFE_INTEGER;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    const expected = describeIntegerRange(options.min, options.max);
    return z
      .string({ error: expected })
      .regex(/^[+-]?\d+$/, { error: expected })
      .transform(Number)
      .refine((value) => Number.isSafeInteger(value) && value >= min && value <= max, { error: expected });
  },

  /** A TCP port; 0 asks the operating system for a free one. */
  port() {
    const expected = "a TCP port from 0 to 65535";
    return z
      .string({ error: expected })
      .regex(/^\d{1,5}$/, { error: expected })
      .transform(Number)
      .refine((value) => value <= 65_535, { error: expected });
  },

  /** `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`, any case). */
  boolean() {
    const expected = "true or false";
    return z.string({ error: expected }).transform((value, context) => {
      const normalized = value.toLowerCase();
      if (["true", "1", "yes", "on"].includes(normalized)) return true;
      if (["false", "0", "no", "off"].includes(normalized)) return false;
      context.issues.push({ code: "custom", message: expected, input: value });
      return z.NEVER;
    });
  },

  /** One of a fixed set of words. */
  oneOf<const T extends readonly [string, ...string[]]>(values: T) {
    return z.enum(values, { error: `one of ${values.map((value) => JSON.stringify(value)).join(", ")}` });
  },

  /** An absolute URL with one of the given schemes (without the colon, e.g. `"nats"`). */
  url(protocols: readonly string[]) {
    const expected = `a URL starting with ${protocols.map((protocol) => `${protocol}://`).join(" or ")}`;
    return z
      .string({ error: expected })
      .refine((value) => hasProtocol(value, protocols), { error: expected });
  },

  /** Hex-encoded bytes, exactly `bytes` long; parsed to a Uint8Array. */
  hex(options: { readonly bytes: number }) {
    const expected = `${options.bytes * 2} hex characters (${options.bytes} bytes)`;
    return z
      .string({ error: expected })
      .regex(new RegExp(`^[0-9a-fA-F]{${options.bytes * 2}}$`), { error: expected })
      .transform((value) => new Uint8Array(Buffer.from(value, "hex")));
  },

  /** A path to an existing regular file (relative paths resolve against the working directory). */
  file() {
    return z.string({ error: "the path of an existing file" }).refine(isFile, {
      error: (issue) => `an existing file (${resolve(String(issue.input))} is not one)`,
    });
  },
};

/** The configuration every role shares. */
export interface CommonConfig {
  /** `SIMD23_GENESIS`: the genesis JSON written by `simd23 genesis`. */
  readonly genesisPath: string;
  /** `SIMD23_CLUSTER_SEED`: the secret every testnet key derives from (32 bytes). */
  readonly clusterSeed: Uint8Array;
  /** `SIMD23_NAMESPACE`: prefixes NATS stream names and Redis keys, so testnets can share servers. */
  readonly namespace: string;
  /** `SIMD23_BUS` and `SIMD23_NATS_URL`. */
  readonly bus: BusConfig;
  /** `SIMD23_STORE` and `SIMD23_REDIS_URL`. */
  readonly store: StoreConfig;
  /** `SIMD23_BIND_ADDRESS`: the address the gRPC and metrics servers listen on. */
  readonly bindAddress: string;
  /** `SIMD23_GRPC_PORT`; 0 picks a free port (the handle tells which). */
  readonly grpcPort: number;
  /** `SIMD23_METRICS_PORT`; 0 picks a free port. */
  readonly metricsPort: number;
  /** `SIMD23_LOG_LEVEL`. */
  readonly logLevel: LogLevel;
  /** `SIMD23_SHUTDOWN_DEADLINE_MS`: the whole graceful shutdown must finish within this. */
  readonly shutdownDeadlineMs: number;
  /** `SIMD23_REPLICA_ORDINAL`: this replica's StatefulSet ordinal. */
  readonly replicaOrdinal: number;
  /** The standard `OTEL_*` variables the telemetry module acts on. */
  readonly telemetry: TelemetryConfig;
}

export type BusConfig =
  | { readonly kind: "nats"; readonly servers: readonly string[] }
  | { readonly kind: "memory" };

export type StoreConfig = { readonly kind: "redis"; readonly url: string } | { readonly kind: "memory" };

export interface TelemetryConfig {
  /** `OTEL_SDK_DISABLED`: no spans at all, not even for propagation. */
  readonly sdkDisabled: boolean;
  /** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or else `OTEL_EXPORTER_OTLP_ENDPOINT`; unset: spans are not exported. */
  readonly exporterEndpoint: string | undefined;
  /** `OTEL_SERVICE_NAME`; unset: `simd23-<role>`. */
  readonly serviceName: string | undefined;
}

/** Role-specific variables: the variable name (which must start with `SIMD23_`) and its schema. */
export type RoleVariables = Readonly<Record<string, z.ZodType<unknown, string | undefined>>>;

/** The parsed values of a role's variables, under their variable names. */
export type RoleValues<V extends RoleVariables> = { readonly [K in keyof V]: z.output<V[K]> };

export interface ServiceConfig<V extends RoleVariables = Record<never, never>> extends CommonConfig {
  /** The role's own variables, by name (`config.role.SIMD23_PROPOSER_QUEUE_LIMIT`). */
  readonly role: RoleValues<V>;
  /** `SIMD23_*` variables set in the environment that nothing reads (likely typos); logged at start. */
  readonly unrecognizedVariables: readonly string[];
}

export interface LoadConfigOptions<V extends RoleVariables> {
  /** The role's own variables; they join the common ones in one schema and one error report. */
  readonly variables?: V;
  /** Defaults to `process.env`. */
  readonly env?: Environment;
}

/** One variable that failed validation. */
export interface ConfigProblem {
  readonly variable: string;
  readonly expected: string;
  /** How the value was found, as printed (secrets are not printed). */
  readonly found: string;
}

/** Every problem in the configuration at once, each naming its variable. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `invalid configuration (${problems.length} ${problems.length === 1 ? "problem" : "problems"}):\n${problems
        .map((problem) => `  ${problem.variable}: expected ${problem.expected}, found ${problem.found}`)
        .join("\n")}`,
    );
  }
}

const OTEL_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

const KEY_VALUE_LIST = /^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*$/;

/**
 * The standard OpenTelemetry variables, validated so a typo fails at start rather than being
 * ignored by the SDK. The telemetry module reads the same schema before the SDK starts.
 */
export const TELEMETRY_VARIABLES = {
  OTEL_SDK_DISABLED: envVar.boolean().default(false),
  OTEL_SERVICE_NAME: envVar
    .string({ pattern: /^\S+$/, expected: "a service name without spaces" })
    .optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: envVar.url(["http", "https"]).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: envVar.url(["http", "https"]).optional(),
  OTEL_EXPORTER_OTLP_HEADERS: envVar
    .string({ pattern: KEY_VALUE_LIST, expected: "a list of key=value pairs separated by commas" })
    .optional(),
  OTEL_RESOURCE_ATTRIBUTES: envVar
    .string({ pattern: KEY_VALUE_LIST, expected: "a list of key=value pairs separated by commas" })
    .optional(),
  OTEL_TRACES_EXPORTER: envVar.oneOf(["otlp", "none"]).optional(),
  OTEL_TRACES_SAMPLER: envVar.oneOf(OTEL_SAMPLERS).optional(),
  OTEL_TRACES_SAMPLER_ARG: envVar
    .string({ pattern: /^(0(\.\d+)?|1(\.0+)?)$/, expected: "a sampling ratio from 0 to 1" })
    .optional(),
  OTEL_PROPAGATORS: envVar
    .string({
      pattern:
        /^(tracecontext|baggage|b3|b3multi|jaeger|none)(,(tracecontext|baggage|b3|b3multi|jaeger|none))*$/,
      expected: "a comma-separated list of tracecontext, baggage, b3, b3multi, jaeger, none",
    })
    .optional(),
  OTEL_LOG_LEVEL: envVar.oneOf(["NONE", "ERROR", "WARN", "INFO", "DEBUG", "VERBOSE", "ALL"]).optional(),
};

const REPLICA_ORDINAL_EXPECTED = "a non-negative integer or a pod name ending in -<n>";

/** The variables every role reads, with their laptop defaults. */
export const COMMON_VARIABLES = {
  SIMD23_GENESIS: envVar.file().prefault("genesis.json"),
  SIMD23_CLUSTER_SEED: envVar.hex({ bytes: 32 }),
  SIMD23_NAMESPACE: envVar
    .string({
      pattern: /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/,
      expected: "1 to 32 lower-case letters, digits or inner dashes",
    })
    .default("simd23"),
  SIMD23_BUS: envVar.oneOf(["nats", "memory"]).default("nats"),
  SIMD23_NATS_URL: envVar
    .string({
      pattern: /^(nats|tls|ws|wss):\/\/[^\s,]+(,(nats|tls|ws|wss):\/\/[^\s,]+)*$/,
      expected: "one or more nats://, tls://, ws:// or wss:// URLs separated by commas",
    })
    .default("nats://127.0.0.1:4222"),
  SIMD23_STORE: envVar.oneOf(["redis", "memory"]).default("redis"),
  SIMD23_REDIS_URL: envVar.url(["redis", "rediss"]).default("redis://127.0.0.1:6379"),
  SIMD23_BIND_ADDRESS: envVar
    .string({ pattern: /^[0-9A-Za-z.:\-[\]]+$/, expected: "an IP address or host name" })
    .default("0.0.0.0"),
  SIMD23_GRPC_PORT: envVar.port().default(50051),
  SIMD23_METRICS_PORT: envVar.port().default(9464),
  SIMD23_LOG_LEVEL: envVar.oneOf(LOG_LEVELS).default("info"),
  SIMD23_SHUTDOWN_DEADLINE_MS: envVar.integer({ min: 100, max: 600_000 }).default(10_000),
  SIMD23_REPLICA_ORDINAL: z
    .string({ error: REPLICA_ORDINAL_EXPECTED })
    .regex(/^(\d+|.*-\d+)$/, { error: REPLICA_ORDINAL_EXPECTED })
    .transform((value) => Number(/(\d+)$/.exec(value)?.[1]))
    .refine(Number.isSafeInteger, { error: REPLICA_ORDINAL_EXPECTED })
    .default(0),
  ...TELEMETRY_VARIABLES,
};

/**
 * Reads and validates the whole configuration (common and role variables) from the environment,
 * in one pass: every problem is reported at once in a ConfigError. An empty variable counts as
 * unset, as Kubernetes manifests often render missing values as "".
 */
export function loadConfig<V extends RoleVariables = Record<never, never>>(
  options: LoadConfigOptions<V> = {},
): ServiceConfig<V> {
  const env = options.env ?? process.env;
  const roleVariables: RoleVariables = options.variables ?? {};
  for (const name of Object.keys(roleVariables)) {
    if (!/^SIMD23_[A-Z0-9_]+$/.test(name)) {
      throw new TypeError(`role variable ${name} must be named SIMD23_<UPPER_SNAKE_CASE>`);
    }
    if (name in COMMON_VARIABLES) throw new TypeError(`role variable ${name} is already a common variable`);
  }
  const schema = z.object({ ...COMMON_VARIABLES, ...roleVariables });
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = env[name];
    input[name] = value === "" ? undefined : value;
  }
  const result = schema.safeParse(input);
  if (!result.success) throw new ConfigError(problemsOf(result.error, env));
  const values = result.data as z.output<typeof schema> & Record<string, unknown>;

  const role: Record<string, unknown> = {};
  for (const name of Object.keys(roleVariables)) role[name] = values[name];

  return {
    genesisPath: values.SIMD23_GENESIS,
    clusterSeed: values.SIMD23_CLUSTER_SEED,
    namespace: values.SIMD23_NAMESPACE,
    bus:
      values.SIMD23_BUS === "memory"
        ? { kind: "memory" }
        : { kind: "nats", servers: values.SIMD23_NATS_URL.split(",") },
    store:
      values.SIMD23_STORE === "memory" ? { kind: "memory" } : { kind: "redis", url: values.SIMD23_REDIS_URL },
    bindAddress: values.SIMD23_BIND_ADDRESS,
    grpcPort: values.SIMD23_GRPC_PORT,
    metricsPort: values.SIMD23_METRICS_PORT,
    logLevel: values.SIMD23_LOG_LEVEL,
    shutdownDeadlineMs: values.SIMD23_SHUTDOWN_DEADLINE_MS,
    replicaOrdinal: values.SIMD23_REPLICA_ORDINAL,
    telemetry: telemetryConfigOf(values),
    role: role as RoleValues<V>,
    unrecognizedVariables: Object.keys(env)
      .filter((name) => name.startsWith("SIMD23_") && !(name in schema.shape))
      .sort(),
  };
}

/** The telemetry part of an environment already validated against TELEMETRY_VARIABLES. */
export function telemetryConfigOf(
  values: z.output<z.ZodObject<typeof TELEMETRY_VARIABLES>>,
): TelemetryConfig {
  return {
    sdkDisabled: values.OTEL_SDK_DISABLED,
    exporterEndpoint:
      values.OTEL_TRACES_EXPORTER === "none"
        ? undefined
        : (values.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? values.OTEL_EXPORTER_OTLP_ENDPOINT),
    serviceName: values.OTEL_SERVICE_NAME,
  };
}

function problemsOf(error: z.ZodError, env: Environment): ConfigProblem[] {
  const problems = new Map<string, ConfigProblem>();
  for (const issue of error.issues) {
    const variable = String(issue.path[0]);
    if (problems.has(variable)) continue;
    const raw = env[variable];
    problems.set(variable, {
      variable,
      expected: issue.message.replace(/^Invalid input: expected /, ""),
      found: describeFoundValue(variable, raw === "" ? undefined : raw),
    });
  }
  return [...problems.values()];
}

function describeIntegerRange(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
  if (min !== undefined) return `an integer of at least ${min}`;
  if (max !== undefined) return `an integer of at most ${max}`;
  return "an integer";
}

function hasProtocol(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol.slice(0, -1));
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
