import { type ChildProcess, spawn } from "node:child_process";
import { createPublicKey, randomBytes, verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { credentials, Metadata } from "@grpc/grpc-js";
import { DEVNET_TIMING, latencySummary } from "@simd23/client";
import {
  createTestnetGenesis,
  deriveKeypair,
  encodeTransactionMessage,
  genesisToJson,
  type Keypair,
  routeTransaction,
  signingInput,
  signTransaction,
  TRANSACTION_SIGNING_DOMAIN,
  toHex,
  transferInstruction,
} from "@simd23/core";
import { proposer, type tx } from "@simd23/proto";
import { removeNamespace, until } from "../devnet.js";
import {
  type Figure,
  formatRatio,
  measureRate,
  type Suite,
  type SuiteContext,
  type SuiteResult,
  sleep,
  type Table,
  trackChild,
} from "../harness.js";
import { processCpuSeconds } from "../prometheus.js";
import { freePort } from "../servers.js";
import { svgDocument } from "../svg.js";

// Intake at saturation through 1, 2, 4 and 8 proposer processes (services/proposer/dist/main.js)
// beside one leader process (services/leader/dist/main.js: the ledger whose blockhashes the
// transactions name, and the membership that puts new proposers in the schedule), on NATS and
// Redis. Clients keep IN_FLIGHT submissions open, each sent to the proposer its fee payer routes
// to, so nothing is forwarded. Every transaction is decoded, signature-checked, blockhash-checked,
// stored in INTAKE and acknowledged while the proposers build their UserBlocks. The baseline is
// the signature check alone: node:crypto ed25519 verify in a loop over the same transactions.

const PROPOSER_COUNTS = [1, 2, 4, 8];
const PAYERS = 2_000;
const SEND_MS = 5_000;
const IDLE_MS = 2_000;
const CLIENTS = 8;
const IN_FLIGHT = 256;
const MIN_POOL = 6_000;
const MAX_POOL = 60_000;
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/** The devnet's timing, with blockhashes that stay valid for the whole run however slow the machine is. */
const TIMING = { ...DEVNET_TIMING, blockhashValiditySlots: 1_500 } as const;

function call<Response>(
  send: (done: (error: Error | null, response: Response) => void) => void,
): Promise<Response> {
  return new Promise((resolve, reject) =>
    send((error, response) => (error ? reject(error) : resolve(response))),
  );
}

interface Role {
  readonly child: ChildProcess;
  readonly grpcAddress: string;
}

async function startRole(
  role: "leader" | "proposer",
  ordinal: number,
  env: Record<string, string>,
): Promise<Role> {
  const grpcPort = await freePort();
  const child = spawn(process.execPath, [join(REPO, "services", role, "dist", "main.js")], {
    env: {
      ...process.env,
      ...env,
      SIMD23_GRPC_PORT: String(grpcPort),
      SIMD23_METRICS_PORT: String(await freePort()),
      SIMD23_REPLICA_ORDINAL: String(ordinal),
      SIMD23_ADVERTISE_ADDRESS: `127.0.0.1:${grpcPort}`,
      SIMD23_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "ignore"],
  });
  trackChild(child, "SIGTERM");
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

interface Presigned {
  readonly transaction: tx.Transaction;
  readonly feePayer: Uint8Array;
}

/** Transfers signed in advance, each from one of the payers to another, distinct by amount. */
function presign(
  blockhash: Uint8Array,
  payers: readonly Keypair[],
  first: number,
  count: number,
): Presigned[] {
  return Array.from({ length: count }, (_, i) => {
    const n = first + i;
    const payer = payers[n % payers.length]!;
    const message = encodeTransactionMessage([payer.publicKey], {
      recentBlockhash: blockhash,
      computeUnitLimit: 1_000,
      computeUnitPrice: BigInt(1 + (n % 100)),
      instructions: [transferInstruction(0, payers[(n + 1) % payers.length]!.publicKey, BigInt(n + 1))],
    });
    return { transaction: signTransaction(message, [payer]), feePayer: payer.publicKey };
  });
}

/** node:crypto ed25519 verify over the transactions' signing inputs, KeyObjects built once (as the core caches them). */
async function verifyLoop(presigned: readonly Presigned[], payers: readonly Keypair[]) {
  const transactions = presigned.map((p) => p.transaction);
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
  const perSecond = await measureRate(() => {
    for (let n = 0; n < 500; n++, i++) {
      const index = i % transactions.length;
      if (!verify(null, inputs[index]!, keys[index % keys.length]!, transactions[index]!.signatures[0]!))
        throw new Error("a pre-signed transaction does not verify");
    }
    return 500;
  }, 1_500);
  const cpu = process.cpuUsage(cpuBefore);
  return { perSecond, cpuMicrosecondsEach: (cpu.user + cpu.system) / i };
}

interface Intake {
  readonly accepted: number;
  readonly seconds: number;
  readonly refused: Map<string, number>;
  readonly latenciesMs: number[];
}

/**
 * CLIENTS channels per proposer; IN_FLIGHT submissions open in all until SEND_MS passed or the
 * transactions ran out, each to the proposer its fee payer routes to.
 */
async function runIntake(
  transactions: readonly { readonly transaction: tx.Transaction; readonly address: string }[],
  signal: AbortSignal,
): Promise<Intake> {
  const clients = new Map<string, proposer.ProposerServiceClient[]>();
  const clientFor = (address: string, worker: number) => {
    let list = clients.get(address);
    if (list === undefined) {
      list = Array.from(
        { length: CLIENTS },
        (_, i) =>
          new proposer.ProposerServiceClient(address, credentials.createInsecure(), {
            "grpc.primary_user_agent": `bench-${i}`,
            "grpc.use_local_subchannel_pool": 1,
          }),
      );
      clients.set(address, list);
    }
    return list[worker % CLIENTS]!;
  };
  let next = 0;
  let accepted = 0;
  const refused = new Map<string, number>();
  const latenciesMs: number[] = [];
  const started = performance.now();
  const deadline = started + SEND_MS;
  const worker = async (id: number) => {
    for (
      let index = next++;
      index < transactions.length && performance.now() < deadline && !signal.aborted;
      index = next++
    ) {
      const { transaction, address } = transactions[index]!;
      const sent = performance.now();
      try {
        await call<proposer.SubmitTransactionResponse>((done) =>
          clientFor(address, id).submitTransaction({ transaction, forwarded: false }, new Metadata(), done),
        );
        accepted += 1;
        latenciesMs.push(performance.now() - sent);
      } catch (error) {
        const reason = (error as Error).message.slice(0, 160);
        refused.set(reason, (refused.get(reason) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, id) => worker(id)));
  const seconds = (performance.now() - started) / 1000;
  for (const list of clients.values()) for (const client of list) client.close();
  signal.throwIfAborted();
  return { accepted, seconds, refused, latenciesMs };
}

interface PointResult {
  readonly proposers: number;
  readonly acceptedPerSecond: number;
  readonly accepted: number;
  readonly refused: number;
  readonly cpuMicrosecondsEach: number;
  readonly idleCores: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const suite: Suite = {
  name: "proposer",
  needs: ["nats", "redis"],
  description:
    `Intake at saturation through ${PROPOSER_COUNTS.join(", ")} proposer processes over gRPC, beside one leader (the ledger ` +
    `and the schedule), on NATS and Redis, with the devnet's timing: ${IN_FLIGHT} submissions kept in flight for ` +
    `${SEND_MS / 1000} s, pre-signed transfers from ${PAYERS} fee payers, each sent to the proposer its fee payer routes ` +
    "to; each is decoded, its signature and blockhash checked, stored in INTAKE and acknowledged, while the proposers build " +
    "their UserBlocks. Baseline: a plain node:crypto ed25519 verify loop over the same transactions on one thread, the " +
    "cost of the signature check alone; for the curve, also one proposer. The clients share the machine's cores with the " +
    "proposers and the leader.",
  async run(context: SuiteContext): Promise<SuiteResult> {
    const { signal } = context;
    const seed = randomBytes(32);
    const namespace = `bench-proposer-${randomBytes(4).toString("hex")}`;
    const home = mkdtempSync(join(tmpdir(), "simd23-bench-proposer-"));
    const genesis = createTestnetGenesis({
      clusterName: namespace,
      clusterSeed: seed,
      startTimeMs: BigInt(Date.now() + 3_000),
      validators: 1,
      proposerPool: Math.max(...PROPOSER_COUNTS),
      timing: TIMING,
    });
    writeFileSync(join(home, "genesis.json"), genesisToJson(genesis));
    const env = {
      SIMD23_GENESIS: join(home, "genesis.json"),
      SIMD23_CLUSTER_SEED: seed.toString("hex"),
      SIMD23_NAMESPACE: namespace,
      SIMD23_NATS_URL: context.natsUrl,
      SIMD23_REDIS_URL: context.redisUrl,
      SIMD23_PROPOSER_QUEUE_LIMIT: String(2 * MAX_POOL),
    };
    const roles: Role[] = [];
    const proposers: Role[] = [];
    try {
      roles.push(await startRole("leader", 0, env));
      const payers = Array.from({ length: PAYERS }, (_, i) => deriveKeypair(seed, "bench-payer", i));
      const points: PointResult[] = [];
      let verifying: Awaited<ReturnType<typeof verifyLoop>> | undefined;
      let signed = 0;
      for (const count of PROPOSER_COUNTS) {
        while (proposers.length < count) {
          const role = await startRole("proposer", proposers.length, env);
          roles.push(role);
          proposers.push(role);
        }
        const statusClients = proposers.map(
          (p) => new proposer.ProposerServiceClient(p.grpcAddress, credentials.createInsecure()),
        );
        let routing: { active: Uint8Array[]; addressByIdentity: Map<string, string> };
        let blockhash: Uint8Array;
        try {
          routing = await until(
            `${count} proposers scheduled`,
            async () => {
              const statuses = await Promise.all(
                statusClients.map((client) =>
                  call<proposer.GetProposerStatusResponse>((done) =>
                    client.getProposerStatus({}, new Metadata(), done),
                  ),
                ),
              );
              const ready = statuses.every((s) => s.scheduled && s.activeProposers.length === count);
              if (!ready) return undefined;
              return {
                active: statuses[0]!.activeProposers,
                addressByIdentity: new Map(
                  statuses.map((s, i) => [toHex(s.identity), proposers[i]!.grpcAddress]),
                ),
              };
            },
            90_000,
            signal,
          );
          blockhash = (
            await call<proposer.GetLatestBlockhashResponse>((done) =>
              statusClients[0]!.getLatestBlockhash({}, new Metadata(), done),
            )
          ).blockhash;
        } finally {
          for (const client of statusClients) client.close();
        }
        const previousRate = points.at(-1)?.acceptedPerSecond ?? 0;
        const poolSize = Math.min(
          MAX_POOL,
          Math.max(MIN_POOL, Math.ceil((previousRate * 2 * SEND_MS) / 1000)),
        );
        const presigned = presign(blockhash, payers, signed, poolSize);
        signed += poolSize;
        verifying ??= await verifyLoop(presigned, payers);
        const transactions = presigned.map(({ transaction, feePayer }) => ({
          transaction,
          address: routing.addressByIdentity.get(toHex(routeTransaction(feePayer, routing.active)!))!,
        }));
        // Idle, proposers still follow the ledger (checking the leader's PoH) and build empty
        // UserBlocks: that CPU is charged to time, not to transactions.
        const pids = proposers.map((p) => p.child.pid!);
        const cpuSum = () => pids.reduce((total, pid) => total + (processCpuSeconds(pid) ?? Number.NaN), 0);
        const idleStarted = performance.now();
        const idleBefore = cpuSum();
        await sleep(IDLE_MS, signal);
        const idleCores = (cpuSum() - idleBefore) / ((performance.now() - idleStarted) / 1000);
        const cpuBefore = cpuSum();
        const intake = await runIntake(transactions, signal);
        const busy = cpuSum() - cpuBefore - idleCores * intake.seconds;
        const refusedCount = [...intake.refused.values()].reduce((a, b) => a + b, 0);
        if (intake.accepted < (intake.accepted + refusedCount) * 0.99)
          throw new Error(
            `${count} proposers: ${refusedCount} refused of ${intake.accepted + refusedCount}: ${JSON.stringify(Object.fromEntries(intake.refused))}`,
          );
        const latency = latencySummary(intake.latenciesMs);
        points.push({
          proposers: count,
          acceptedPerSecond: intake.accepted / intake.seconds,
          accepted: intake.accepted,
          refused: refusedCount,
          cpuMicrosecondsEach: (busy * 1e6) / intake.accepted,
          idleCores,
          p50Ms: latency.p50Ms ?? Number.NaN,
          p99Ms: latency.p99Ms ?? Number.NaN,
        });
        context.log(
          `proposer: ${count} proposers accepted ${intake.accepted} in ${intake.seconds.toFixed(1)} s ` +
            `(${(intake.accepted / intake.seconds).toFixed(0)} tx/s), ${refusedCount} refused`,
        );
      }
      return report(points, verifying!);
    } finally {
      for (const role of roles.reverse()) await stopRole(role);
      await removeNamespace(context.natsUrl, context.redisUrl, namespace);
      rmSync(home, { recursive: true, force: true });
    }
  },
};

function report(
  points: readonly PointResult[],
  verifying: { perSecond: number; cpuMicrosecondsEach: number },
): SuiteResult {
  const verifyName = "node:crypto ed25519 verify loop (one thread)";
  const one = points[0]!;
  const figures: Figure[] = [{ name: verifyName, value: verifying.perSecond, unit: "verifies/s" }];
  for (const point of points) {
    figures.push(
      {
        name: `transactions accepted through ${point.proposers} proposer${point.proposers > 1 ? "s" : ""}`,
        value: point.acceptedPerSecond,
        unit: "tx/s",
        baseline: { name: verifyName, value: verifying.perSecond },
        note:
          `${point.accepted} accepted, ${point.refused} refused; ${formatRatio(point.acceptedPerSecond, one.acceptedPerSecond)} ` +
          `one proposer; round trip p50 ${point.p50Ms.toFixed(1)} ms, p99 ${point.p99Ms.toFixed(1)} ms with ${IN_FLIGHT} in flight`,
      },
      {
        name: `proposer CPU time per accepted transaction, ${point.proposers} proposer${point.proposers > 1 ? "s" : ""} (all of them, idle CPU taken off)`,
        value: point.cpuMicrosecondsEach,
        unit: "µs",
        baseline: {
          name: "CPU time of one ed25519 verify in the loop",
          value: verifying.cpuMicrosecondsEach,
        },
        note: `CPU time, not wall time, so other work on the machine does not count; idle they used ${(100 * point.idleCores).toFixed(0)} % of a core`,
      },
    );
  }
  const table: Table = {
    title: "Intake against the number of proposers",
    columns: [
      "proposers",
      "accepted tx/s",
      "vs one proposer",
      "vs the verify loop",
      "CPU µs/tx (all proposers)",
      "idle CPU (cores)",
      "round trip p50 / p99 ms",
    ],
    rows: points.map((p) => [
      String(p.proposers),
      p.acceptedPerSecond.toFixed(0),
      formatRatio(p.acceptedPerSecond, one.acceptedPerSecond),
      formatRatio(p.acceptedPerSecond, verifying.perSecond),
      p.cpuMicrosecondsEach.toFixed(0),
      p.idleCores.toFixed(2),
      `${p.p50Ms.toFixed(1)} / ${p.p99Ms.toFixed(1)}`,
    ]),
  };
  const svg = svgDocument(
    "Intake against the number of proposers",
    [
      {
        kind: "lines",
        chart: {
          title: "accepted tx/s (saturated)",
          xLabel: "proposers",
          yLabel: "tx/s",
          xTicks: points.map((p) => p.proposers),
          logX: true,
          series: [
            {
              name: "accepted",
              color: "#1f77b4",
              points: points.map((p) => [p.proposers, p.acceptedPerSecond] as const),
            },
            {
              name: "ed25519 verify loop, one thread",
              color: "#999",
              dash: "2 3",
              points: points.map((p) => [p.proposers, verifying.perSecond] as const),
            },
          ],
        },
      },
      {
        kind: "lines",
        chart: {
          title: "CPU per accepted transaction",
          xLabel: "proposers",
          yLabel: "µs",
          xTicks: points.map((p) => p.proposers),
          logX: true,
          series: [
            {
              name: "all proposers",
              color: "#1f77b4",
              points: points.map((p) => [p.proposers, p.cpuMicrosecondsEach] as const),
            },
            {
              name: "one ed25519 verify",
              color: "#999",
              dash: "2 3",
              points: points.map((p) => [p.proposers, verifying.cpuMicrosecondsEach] as const),
            },
          ],
        },
      },
    ],
    420,
    320,
  );
  return {
    figures,
    tables: [table],
    plots: [{ name: "proposer", title: "Intake against the number of proposers", svg }],
  };
}

export default suite;
