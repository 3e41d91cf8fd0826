import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createPublicKey, randomBytes, verify } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { credentials, Metadata } from "@grpc/grpc-js";
import { connectNatsBus } from "@simd23/bus";
import {
  createTestnetGenesis,
  deriveKeypair,
  encodeTransactionMessage,
  genesisToJson,
  type Keypair,
  signingInput,
  signTransaction,
  TRANSACTION_SIGNING_DOMAIN,
  transferInstruction,
} from "@simd23/core";
import { proposer, type tx } from "@simd23/proto";
import { connectRedisStore } from "@simd23/store";
import { type Figure, measureRate, type Suite } from "../harness.js";

// One proposer process (services/proposer/dist/main.js) and one leader process
// (services/leader/dist/main.js, for a ledger whose blockhashes the transactions name) on the
// local NATS and Redis. Several clients send pre-signed transfers over gRPC; every one is decoded,
// signature-checked, stored in INTAKE and acknowledged. The baseline is what the signature
// check alone costs: node:crypto ed25519 verify in a loop over the same transactions, here.

const NATS_URL = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const REDIS_URL = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const TRANSACTIONS = 24_000;
const PAYERS = 2_000;
const CLIENTS = 8;
const IN_FLIGHT_PER_CLIENT = 32;
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function call<Response>(
  send: (done: (error: Error | null, response: Response) => void) => void,
): Promise<Response> {
  return new Promise((resolve, reject) =>
    send((error, response) => (error ? reject(error) : resolve(response))),
  );
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`bench proposer: ${what} not reached after ${timeoutMs} ms`);
}

interface Role {
  readonly child: ChildProcess;
  readonly grpcAddress: string;
}

async function startRole(role: "leader" | "proposer", env: Record<string, string>): Promise<Role> {
  const grpcPort = await freePort();
  const child = spawn(process.execPath, [join(REPO, "services", role, "dist", "main.js")], {
    env: {
      ...process.env,
      ...env,
      SIMD23_GRPC_PORT: String(grpcPort),
      SIMD23_METRICS_PORT: String(await freePort()),
      SIMD23_REPLICA_ORDINAL: "0",
      SIMD23_ADVERTISE_ADDRESS: `127.0.0.1:${grpcPort}`,
      SIMD23_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "ignore"],
  });
  return { child, grpcAddress: `127.0.0.1:${grpcPort}` };
}

function stopRole(role: Role): Promise<void> {
  return new Promise((resolve) => {
    if (role.child.exitCode !== null || role.child.signalCode !== null) return resolve();
    const timer = setTimeout(() => role.child.kill("SIGKILL"), 15_000);
    role.child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    role.child.kill("SIGTERM");
  });
}

/** Pre-signed transfers, each from one of PAYERS fee payers to another, distinct by amount. */
function presign(blockhash: Uint8Array, payers: readonly Keypair[]): tx.Transaction[] {
  return Array.from({ length: TRANSACTIONS }, (_, i) => {
    const payer = payers[i % payers.length]!;
    const message = encodeTransactionMessage([payer.publicKey], {
      recentBlockhash: blockhash,
      computeUnitLimit: 1_000,
      computeUnitPrice: BigInt(1 + (i % 100)),
      instructions: [transferInstruction(0, payers[(i + 1) % payers.length]!.publicKey, BigInt(i + 1))],
    });
    return signTransaction(message, [payer]);
  });
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux): unlike wall time, it
 * does not grow when other work on the machine takes the cores.
 */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  // Counting from the state (field 3 of stat): utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** node:crypto ed25519 verify over the transactions' signing inputs, KeyObjects built once (as the core caches them). */
function verifyLoopRate(
  transactions: readonly tx.Transaction[],
  payers: readonly Keypair[],
): Promise<{ readonly perSecond: number; readonly cpuMicrosecondsEach: number }> {
  const keys = payers.map((payer) =>
    createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, payer.publicKey]),
      format: "der",
      type: "spki",
    }),
  );
  const inputs = transactions.map((t) => signingInput(TRANSACTION_SIGNING_DOMAIN, t.message));
  let i = 0;
  const cpuBefore = process.cpuUsage();
  return measureRate(() => {
    for (let n = 0; n < 500; n++, i++) {
      const index = i % transactions.length;
      if (!verify(null, inputs[index]!, keys[index % keys.length]!, transactions[index]!.signatures[0]!))
        throw new Error("a pre-signed transaction does not verify");
    }
    return 500;
  }, 1_500).then((perSecond) => {
    const cpu = process.cpuUsage(cpuBefore);
    return { perSecond, cpuMicrosecondsEach: (cpu.user + cpu.system) / i };
  });
}

interface LoadResult {
  readonly acceptedPerSecond: number;
  readonly accepted: number;
  readonly refused: Map<string, number>;
  readonly latenciesMs: number[];
}

/** CLIENTS channels, each keeping IN_FLIGHT_PER_CLIENT submissions open until the transactions run out. */
async function runLoad(address: string, transactions: readonly tx.Transaction[]): Promise<LoadResult> {
  const clients = Array.from(
    { length: CLIENTS },
    (_, i) =>
      new proposer.ProposerServiceClient(address, credentials.createInsecure(), {
        "grpc.primary_user_agent": `bench-${i}`,
        "grpc.use_local_subchannel_pool": 1,
      }),
  );
  let next = 0;
  let accepted = 0;
  const refused = new Map<string, number>();
  const latenciesMs: number[] = [];
  const started = performance.now();
  const worker = async (client: proposer.ProposerServiceClient) => {
    for (let index = next++; index < transactions.length; index = next++) {
      const sent = performance.now();
      try {
        await call<proposer.SubmitTransactionResponse>((done) =>
          client.submitTransaction(
            { transaction: transactions[index]!, forwarded: false },
            new Metadata(),
            done,
          ),
        );
        accepted += 1;
        latenciesMs.push(performance.now() - sent);
      } catch (error) {
        const reason = (error as Error).message.slice(0, 160);
        refused.set(reason, (refused.get(reason) ?? 0) + 1);
      }
    }
  };
  await Promise.all(
    clients.flatMap((client) => Array.from({ length: IN_FLIGHT_PER_CLIENT }, () => worker(client))),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const client of clients) client.close();
  return { acceptedPerSecond: accepted / seconds, accepted, refused, latenciesMs };
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

const suite: Suite = {
  name: "proposer",
  description:
    `Intake through one proposer process over gRPC: ${CLIENTS} clients × ${IN_FLIGHT_PER_CLIENT} submissions in ` +
    `flight send ${TRANSACTIONS} pre-signed transfers (${PAYERS} fee payers); each is decoded, its signature ` +
    "checked, its blockhash checked against the ledger (a leader process runs beside it), stored in INTAKE and " +
    "acknowledged, while the proposer builds its UserBlocks. Baseline: a plain node:crypto ed25519 verify loop " +
    "over the same transactions in this process, the cost of the signature check alone. The clients share the " +
    "machine with the proposer and the leader.",
  async run(): Promise<Figure[]> {
    const seed = randomBytes(32);
    const namespace = `bench-proposer-${randomBytes(4).toString("hex")}`;
    const home = mkdtempSync(join(tmpdir(), "simd23-bench-proposer-"));
    const genesis = createTestnetGenesis({
      clusterName: namespace,
      clusterSeed: seed,
      startTimeMs: BigInt(Date.now() + 3_000),
      validators: 1,
      proposerPool: 2,
      // A short epoch (each process draws its leader schedule at start), and blockhashes that stay
      // valid for the whole run however slow the machine is.
      timing: { slotsPerEpoch: 8_192, blockhashValiditySlots: 1_500 },
    });
    writeFileSync(join(home, "genesis.json"), genesisToJson(genesis));
    const env = {
      SIMD23_GENESIS: join(home, "genesis.json"),
      SIMD23_CLUSTER_SEED: seed.toString("hex"),
      SIMD23_NAMESPACE: namespace,
      SIMD23_NATS_URL: NATS_URL,
      SIMD23_REDIS_URL: REDIS_URL,
      SIMD23_PROPOSER_QUEUE_LIMIT: String(2 * TRANSACTIONS),
    };
    const roles: Role[] = [];
    try {
      roles.push(await startRole("leader", env));
      const proposerRole = await startRole("proposer", env);
      roles.push(proposerRole);
      const client = new proposer.ProposerServiceClient(
        proposerRole.grpcAddress,
        credentials.createInsecure(),
      );
      await until(
        "the proposer scheduled",
        async () => {
          const status = await call<proposer.GetProposerStatusResponse>((done) =>
            client.getProposerStatus({}, new Metadata(), done),
          );
          return status.scheduled ? status : undefined;
        },
        60_000,
      );
      const { blockhash } = await call<proposer.GetLatestBlockhashResponse>((done) =>
        client.getLatestBlockhash({}, new Metadata(), done),
      );
      const emptyCallMs: number[] = [];
      for (let i = 0; i < 500; i++) {
        const sent = performance.now();
        await call<proposer.GetProposerStatusResponse>((done) =>
          client.getProposerStatus({}, new Metadata(), done),
        );
        emptyCallMs.push(performance.now() - sent);
      }
      client.close();
      emptyCallMs.sort((a, b) => a - b);

      const payers = Array.from({ length: PAYERS }, (_, i) => deriveKeypair(seed, "bench-payer", i));
      const transactions = presign(blockhash, payers);
      const verifying = await verifyLoopRate(transactions, payers);
      const verifyRate = verifying.perSecond;
      const pid = proposerRole.child.pid!;
      // Idle, the proposer still follows the ledger (verifying the leader's PoH) and builds empty
      // blocks: that CPU is charged to time, not to transactions.
      const idleStarted = performance.now();
      const idleCpuBefore = processCpuSeconds(pid);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const idleCpuPerSecond =
        (processCpuSeconds(pid) - idleCpuBefore) / ((performance.now() - idleStarted) / 1000);
      const loadStarted = performance.now();
      const cpuBefore = processCpuSeconds(pid);
      const load = await runLoad(proposerRole.grpcAddress, transactions);
      const loadSeconds = (performance.now() - loadStarted) / 1000;
      const proposerCpuMicroseconds =
        ((processCpuSeconds(pid) - cpuBefore - idleCpuPerSecond * loadSeconds) * 1e6) / load.accepted;
      if (load.accepted < TRANSACTIONS * 0.99) {
        throw new Error(
          `only ${load.accepted} of ${TRANSACTIONS} accepted: ${JSON.stringify(Object.fromEntries(load.refused))}`,
        );
      }
      load.latenciesMs.sort((a, b) => a - b);
      const baseline = { name: "node:crypto ed25519 verify loop (one thread)", value: verifyRate };
      return [
        { name: baseline.name, value: verifyRate, unit: "verifies/s" },
        {
          name: "transactions accepted through one proposer over gRPC",
          value: load.acceptedPerSecond,
          unit: "tx/s",
          baseline: { name: baseline.name, value: verifyRate },
          note: `${load.accepted} accepted, ${TRANSACTIONS - load.accepted} refused`,
        },
        {
          name: "proposer CPU time per accepted transaction (whole process, blocks included, idle CPU rate taken off)",
          value: proposerCpuMicroseconds,
          unit: "µs",
          baseline: {
            name: "CPU time of one ed25519 verify in the loop",
            value: verifying.cpuMicrosecondsEach,
          },
          note: `CPU time, not wall time, so other work on the machine does not count; idle it used ${(100 * idleCpuPerSecond).toFixed(1)} % of a core`,
        },
        {
          name: "SubmitTransaction round trip under that load, p50",
          value: quantile(load.latenciesMs, 0.5),
          unit: "ms",
          baseline: {
            name: "empty GetProposerStatus round trip, idle, p50",
            value: quantile(emptyCallMs, 0.5),
          },
          note: `p99 ${quantile(load.latenciesMs, 0.99).toFixed(1)} ms with ${CLIENTS * IN_FLIGHT_PER_CLIENT} in flight`,
        },
      ];
    } finally {
      for (const role of roles.reverse()) await stopRole(role);
      const bus = await connectNatsBus({ servers: NATS_URL, namespace, name: "bench-proposer-cleanup" });
      await bus.deleteStreams();
      await bus.close();
      const store = await connectRedisStore({ url: REDIS_URL, namespace });
      await store.clear();
      await store.close();
      rmSync(home, { recursive: true, force: true });
    }
  },
};

export default suite;
