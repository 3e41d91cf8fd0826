import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { type Bus, createMemoryBus, createMemoryBusServer, type MemoryBusServer } from "@simd23/bus";
import {
  createTestnetGenesis,
  type ExecutionMode,
  encodeTransactionMessage,
  type Genesis,
  genesisToJson,
  type Keypair,
  keypairFromSeed,
  memoInstruction,
  signTransaction,
  type Timing,
} from "@simd23/core";
import { proposer, type tx } from "@simd23/proto";
import { LiveTestLedger, type LiveTestLedgerOptions } from "@simd23/runtime/testing";
import { loadConfig, type ServiceHandle, startService } from "@simd23/service-kit";
import { createMemoryDatabase, createMemoryStore, type MemoryDatabase, type Store } from "@simd23/store";
import { PROPOSER_VARIABLES, proposerSettings } from "../config.js";
import { type ProposerRole, startProposer } from "../proposer.js";

/** A fast genesis for tests: 200 ms slots, as brief-services.md suggests, with a wider grace for a busy machine. */
export const FAST_TIMING: Partial<Omit<Timing, "startTimeMs">> = {
  slotDurationMs: 200,
  ticksPerSlot: 16,
  hashesPerTick: 2_000,
  proposerHashesPerTick: 200,
  graceTicks: 4,
  slotsPerLeaderWindow: 2,
  // A short epoch: the leader schedule of a 432,000-slot epoch takes most of a second to draw.
  slotsPerEpoch: 1_024,
  membershipDelaySlots: 2,
  proposerEvictionUserBlockSlots: 6,
  maxLockoutHistory: 8,
};

export interface InProcessClusterOptions {
  readonly proposerPool?: number;
  /** The genesis's execution mode (default async); a sync cluster's ledger comes from the test, not `ledger`. */
  readonly mode?: ExecutionMode;
  readonly timing?: Partial<Omit<Timing, "startTimeMs">>;
  readonly ledger?: Omit<LiveTestLedgerOptions, "bus" | "genesis" | "clusterSeed">;
  /** Extra proposer environment (SIMD23_PROPOSER_*, SIMD23_FAULT_*). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunningProposer {
  readonly service: ServiceHandle;
  readonly role: ProposerRole;
  readonly bus: Bus;
  readonly store: Store;
  readonly address: string;
  readonly client: proposer.ProposerServiceClient;
}

/**
 * Proposer replicas as the embedded devnet runs them: each with its own bus and
 * store connection on one in-process server and database, its own gRPC server
 * (a real one, on a free port), and a test ledger producing slots.
 */
export class InProcessCluster {
  readonly genesis: Genesis;
  readonly clusterSeed = new Uint8Array(randomBytes(32));
  readonly namespace = `t${randomBytes(4).toString("hex")}`;
  readonly server: MemoryBusServer = createMemoryBusServer();
  readonly database: MemoryDatabase = createMemoryDatabase();
  readonly bus: Bus;
  readonly store: Store;
  readonly ledger: LiveTestLedger;
  readonly proposers: RunningProposer[] = [];
  private readonly directory = mkdtempSync(join(tmpdir(), "simd23-proposer-"));
  private readonly genesisPath = join(this.directory, "genesis.json");

  constructor(private readonly options: InProcessClusterOptions = {}) {
    this.genesis = createTestnetGenesis({
      clusterName: "proposer-test",
      clusterSeed: this.clusterSeed,
      validators: 1,
      proposerPool: options.proposerPool ?? 4,
      startTimeMs: BigInt(Date.now()),
      timing: { ...FAST_TIMING, ...options.timing },
      ...(options.mode === undefined ? {} : { mode: options.mode }),
    });
    writeFileSync(this.genesisPath, genesisToJson(this.genesis));
    this.bus = this.connectBus();
    this.store = createMemoryStore({ namespace: this.namespace, database: this.database });
    this.ledger = new LiveTestLedger({
      bus: this.bus,
      genesis: this.genesis,
      clusterSeed: this.clusterSeed,
      ...options.ledger,
    });
  }

  connectBus(): Bus {
    return createMemoryBus({ namespace: this.namespace, server: this.server });
  }

  async startProposer(env: Readonly<Record<string, string>> = {}): Promise<RunningProposer> {
    const config = loadConfig({
      variables: PROPOSER_VARIABLES,
      env: {
        SIMD23_GENESIS: this.genesisPath,
        SIMD23_CLUSTER_SEED: Buffer.from(this.clusterSeed).toString("hex"),
        SIMD23_NAMESPACE: this.namespace,
        SIMD23_BUS: "memory",
        SIMD23_STORE: "memory",
        SIMD23_BIND_ADDRESS: "127.0.0.1",
        SIMD23_GRPC_PORT: "0",
        SIMD23_METRICS_PORT: "0",
        SIMD23_LOG_LEVEL: process.env.SIMD23_TEST_LOG_LEVEL ?? "silent",
        SIMD23_SHUTDOWN_DEADLINE_MS: "8000",
        SIMD23_PROPOSER_LEASE_MS: "1500",
        SIMD23_PROPOSER_INTAKE_ACK_WAIT_MS: "1000",
        SIMD23_PROPOSER_ADOPTION_SCAN_MS: "300",
        ...this.options.env,
        ...env,
      },
    });
    const bus = this.connectBus();
    const store = createMemoryStore({ namespace: this.namespace, database: this.database });
    let role: ProposerRole | undefined;
    const service = await startService({
      role: "proposer",
      config,
      manageProcess: false,
      build: ({ logger, metrics, health, tracer, grpcPort }) => {
        role = startProposer({
          genesis: this.genesis,
          clusterSeed: this.clusterSeed,
          bus,
          store,
          logger,
          metrics,
          health,
          tracer,
          advertiseAddress: `127.0.0.1:${grpcPort}`,
          settings: proposerSettings(config.role, config.shutdownDeadlineMs),
        });
        return {
          services: [{ definition: proposer.ProposerServiceService, implementation: role.implementation }],
          hooks: role.hooks,
        };
      },
    });
    await role!.ready;
    const address = `127.0.0.1:${service.grpcPort}`;
    const running: RunningProposer = {
      service,
      role: role!,
      bus,
      store,
      address,
      client: new proposer.ProposerServiceClient(address, credentials.createInsecure()),
    };
    this.proposers.push(running);
    return running;
  }

  /** Shuts a replica down gracefully (what SIGTERM does). */
  async stopProposer(running: RunningProposer): Promise<void> {
    await running.service.shutdown("test");
    running.client.close();
    await running.bus.close();
    this.proposers.splice(this.proposers.indexOf(running), 1);
  }

  async close(): Promise<void> {
    for (const running of [...this.proposers]) await this.stopProposer(running);
    await this.ledger.stop();
    await this.bus.close();
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** A signed transaction paying a memo, from a fresh fee payer, naming the ledger's newest blockhash. */
  transaction(options: { price?: bigint; units?: number; payer?: Keypair; blockhash?: Uint8Array } = {}): {
    readonly wire: tx.Transaction;
    readonly id: Uint8Array;
  } {
    const payer = options.payer ?? keypairFromSeed(new Uint8Array(randomBytes(32)));
    const message = encodeTransactionMessage([payer.publicKey], {
      recentBlockhash: options.blockhash ?? this.ledger.tipBlockhash,
      computeUnitLimit: options.units ?? 10_000,
      computeUnitPrice: options.price ?? 1n,
      instructions: [memoInstruction(randomBytes(8).toString("hex"))],
    });
    const wire = signTransaction(message, [payer]);
    return { wire, id: wire.signatures[0]! };
  }
}

/** SubmitTransaction as a client calls it. */
export function submit(
  client: proposer.ProposerServiceClient,
  transaction: tx.Transaction,
  forwarded = false,
): Promise<proposer.SubmitTransactionResponse> {
  return new Promise((resolve, reject) =>
    client.submitTransaction({ transaction, forwarded }, new Metadata(), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

export function submitBundle(
  client: proposer.ProposerServiceClient,
  bundle: tx.Bundle,
): Promise<proposer.SubmitBundleResponse> {
  return new Promise((resolve, reject) =>
    client.submitBundle({ bundle, forwarded: false }, new Metadata(), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

export function latestBlockhash(
  client: proposer.ProposerServiceClient,
): Promise<proposer.GetLatestBlockhashResponse> {
  return new Promise((resolve, reject) =>
    client.getLatestBlockhash({}, new Metadata(), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

export function userBlockOf(
  client: proposer.ProposerServiceClient,
  blockHash: Uint8Array,
): Promise<proposer.GetUserBlockResponse> {
  return new Promise((resolve, reject) =>
    client.getUserBlock({ blockHash }, new Metadata(), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

export function proposerStatus(
  client: proposer.ProposerServiceClient,
): Promise<proposer.GetProposerStatusResponse> {
  return new Promise((resolve, reject) =>
    client.getProposerStatus({}, new Metadata(), (error, response) =>
      error ? reject(error) : resolve(response),
    ),
  );
}

/** Polls until the condition holds; throws with the description after the timeout. */
export async function waitFor(
  description: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
}

/** The value of one of a replica's metrics: summed over the series whose labels include `labels`. */
export async function metricValue(
  running: RunningProposer,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const metric = running.service.metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((value) => Object.entries(labels).every(([label, wanted]) => value.labels[label] === wanted))
    .reduce((sum, value) => sum + value.value, 0);
}
