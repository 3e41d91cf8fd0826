import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { type Bus, connectNatsBus, type Replay } from "@simd23/bus";
import {
  bytesEqual,
  checkUserBlock,
  createLedgerContext,
  createTestnetGenesis,
  EnvelopeKind,
  encodeTransactionMessage,
  type Genesis,
  genesisToJson,
  itemTransactions,
  keypairFromSeed,
  type LedgerContext,
  memoInstruction,
  openEnvelope,
  type SlotRecord,
  signTransaction,
  slotAt,
  toHex,
  userBlockSlotEndMs,
} from "@simd23/core";
import { proposer } from "@simd23/proto";
import { LedgerFollower, StatusIndex, subjects } from "@simd23/runtime";
import { connectRedisStore, type Store } from "@simd23/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RoleProcess } from "../../packages/client/src/devnet/processes.js";

// Proposers as processes (services/proposer/dist/main.js) with two leader replicas
// (services/leader/dist/main.js) on the real NATS and Redis, a fast genesis and a namespace of
// their own. The test is the client: it sends transactions to every proposer all along, while
// a 4th proposer joins, one stops (SIGTERM) and one is killed (SIGKILL).

const NATS_URL = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const REDIS_URL = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const SLOT_MS = 200;
const MEMBERSHIP_DELAY_SLOTS = 2;
const EVICTION_USER_BLOCK_SLOTS = 6;

const seed = randomBytes(32);
const namespace = `e2e-proposers-${randomBytes(4).toString("hex")}`;
const home = mkdtempSync(join(tmpdir(), "simd23-e2e-proposers-"));

const genesis: Genesis = createTestnetGenesis({
  clusterName: namespace,
  clusterSeed: seed,
  startTimeMs: BigInt(Date.now() + 5_000),
  validators: 2,
  leaders: 2,
  proposerPool: 6,
  timing: {
    slotDurationMs: SLOT_MS,
    ticksPerSlot: 16,
    hashesPerTick: 2_000,
    proposerHashesPerTick: 200,
    // Two ticks (25 ms) are too tight for a shared 2-vCPU machine under load: 4 leave 50 ms.
    graceTicks: 4,
    slotsPerLeaderWindow: 2,
    membershipDelaySlots: MEMBERSHIP_DELAY_SLOTS,
    proposerEvictionUserBlockSlots: EVICTION_USER_BLOCK_SLOTS,
    maxLockoutHistory: 8,
  },
});
const { timing } = genesis;
const context: LedgerContext = createLedgerContext(genesis);

let bus: Bus;
let store: Store;
let follower: LedgerFollower;
let blocksReplay: Replay | undefined;
let blocksDone: Promise<void> | undefined;
const leaders: RoleProcess[] = [];
const proposers: RoleProcess[] = [];
const clients = new Map<RoleProcess, proposer.ProposerServiceClient>();
/** When each slot replayed here. */
const replayedAt = new Map<number, number>();
/** Every UserBlock published on USERBLOCKS: its bytes, by hex hash. */
const published = new Map<
  string,
  { readonly u: number; readonly proposer: string; readonly bytes: Uint8Array }
>();
/** Which published block carries each transaction id (hex). */
const blockOfTransaction = new Map<string, string[]>();
/** Signatures a proposer acknowledged. */
const acknowledged = new Set<string>();
const refusals = new Map<string, number>();
let sending = false;
let sender: Promise<void> | undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function clientOf(process: RoleProcess): proposer.ProposerServiceClient {
  let client = clients.get(process);
  if (client === undefined) {
    client = new proposer.ProposerServiceClient(process.grpcAddress, credentials.createInsecure());
    clients.set(process, client);
  }
  return client;
}

function call<Response>(
  send: (done: (error: Error | null, response: Response) => void) => void,
): Promise<Response> {
  return new Promise((resolve, reject) =>
    send((error, response) => (error ? reject(error) : resolve(response))),
  );
}

const env = () => ({
  SIMD23_GENESIS: join(home, "genesis.json"),
  SIMD23_CLUSTER_SEED: seed.toString("hex"),
  SIMD23_NAMESPACE: namespace,
  SIMD23_NATS_URL: NATS_URL,
  SIMD23_REDIS_URL: REDIS_URL,
  SIMD23_LOG_LEVEL: "info",
  SIMD23_PROPOSER_LEASE_MS: "2000",
  SIMD23_PROPOSER_INTAKE_ACK_WAIT_MS: "1500",
  SIMD23_PROPOSER_ADOPTION_SCAN_MS: "500",
});

async function startProposer(replica: number): Promise<RoleProcess> {
  const started = await RoleProcess.start({ role: "proposer", replica, env: env(), logDir: home });
  proposers.push(started);
  await started.waitHealthy(30_000);
  return started;
}

async function identityOf(process: RoleProcess): Promise<Uint8Array> {
  const status = await call<proposer.GetProposerStatusResponse>((done) =>
    clientOf(process).getProposerStatus({}, new Metadata(), done),
  );
  return status.identity;
}

function tipSchedule() {
  return follower.state(follower.newestSlot)!.schedule;
}

/** The first slot from which the tip's schedule has the proposer active (or not, `active` false) at both halves. */
async function waitActive(identity: Uint8Array, active: boolean, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const tip = follower.newestSlot;
    const u = 2 * tip;
    const now = tipSchedule()
      .activeAt(u)
      .some((p) => bytesEqual(p, identity));
    if (now === active) return tip;
    await sleep(SLOT_MS / 4);
  }
  throw new Error(`proposer ${toHex(identity)} not ${active ? "active" : "inactive"} after ${timeoutMs} ms`);
}

/** Sends transactions round-robin to every running proposer, each with a fresh fee payer, until stopped. */
async function sendTransactions(perSecond: number): Promise<void> {
  let next = 0;
  let blockhash: Uint8Array | undefined;
  let blockhashAt = 0;
  while (sending) {
    const targets = proposers.filter((p) => p.running);
    const target = targets[next++ % targets.length];
    if (target === undefined) {
      await sleep(50);
      continue;
    }
    if (blockhash === undefined || Date.now() - blockhashAt > SLOT_MS) {
      const latest = await call<proposer.GetLatestBlockhashResponse>((done) =>
        clientOf(target).getLatestBlockhash({}, new Metadata(), done),
      ).catch(() => undefined);
      if (latest !== undefined) {
        blockhash = latest.blockhash;
        blockhashAt = Date.now();
      }
    }
    if (blockhash !== undefined) {
      const payer = keypairFromSeed(new Uint8Array(randomBytes(32)));
      const message = encodeTransactionMessage([payer.publicKey], {
        recentBlockhash: blockhash,
        computeUnitLimit: 5_000,
        computeUnitPrice: BigInt(1 + (next % 7)),
        instructions: [memoInstruction(`e2e ${next}`)],
      });
      const transaction = signTransaction(message, [payer]);
      void call<proposer.SubmitTransactionResponse>((done) =>
        clientOf(target).submitTransaction({ transaction, forwarded: false }, new Metadata(), done),
      ).then(
        (response) => acknowledged.add(toHex(response.signature)),
        (error: Error & { details?: string }) => {
          const reason = error.message.split(":")[0] ?? "error";
          refusals.set(reason, (refusals.get(reason) ?? 0) + 1);
        },
      );
    }
    await sleep(1_000 / perSecond);
  }
}

/** simd23_leader_user_blocks_refused_total{reason="late"} of a leader replica. */
async function lateRefusals(leader: RoleProcess): Promise<number> {
  const text = await (await fetch(leader.metricsUrl)).text();
  const series = 'simd23_leader_user_blocks_refused_total{reason="late"}';
  const line = text.split("\n").find((l) => l.startsWith(series));
  return line === undefined ? 0 : Number(line.slice(series.length));
}

/** The slots of the tip's chain, newest first. */
function chain(): SlotRecord[] {
  const tip = follower.newestSlot;
  return [tip, ...follower.ancestors(tip)].flatMap((slot) => follower.record(slot) ?? []);
}

beforeAll(async () => {
  writeFileSync(join(home, "genesis.json"), genesisToJson(genesis));
  bus = await connectNatsBus({ servers: NATS_URL, namespace, name: "e2e-proposers" });
  store = await connectRedisStore({ url: REDIS_URL, namespace, clientName: "e2e-proposers" });
  follower = new LedgerFollower({ bus, context, retainSlots: 2_000 });
  follower.onSlot(({ record }) => replayedAt.set(record.slot, Date.now()));
  await follower.start();
  blocksReplay = bus.replay({ stream: "USERBLOCKS", filterSubjects: [subjects.allUserBlocks], start: "all" });
  const replay = blocksReplay;
  blocksDone = (async () => {
    for await (const message of replay) {
      const opened = openEnvelope(genesis, message.data, EnvelopeKind.KIND_USER_BLOCK);
      if (!opened.ok) continue;
      const signer = opened.envelope.signer;
      const check = checkUserBlock(genesis, opened.envelope.body, [signer]);
      if (!check.ok || !bytesEqual(check.block.proposer, signer)) continue;
      const hash = toHex(check.block.blockHash);
      published.set(hash, {
        u: check.block.userBlockSlot,
        proposer: toHex(signer),
        bytes: opened.envelope.body,
      });
      for (const item of check.block.items)
        for (const t of itemTransactions(item.valid)) {
          const id = toHex(t.id);
          blockOfTransaction.set(id, [...(blockOfTransaction.get(id) ?? []), hash]);
        }
    }
  })();
  for (const replica of [0, 1])
    leaders.push(await RoleProcess.start({ role: "leader", replica, env: env(), logDir: home }));
  await Promise.all(leaders.map((leader) => leader.waitHealthy(20_000)));
  for (const replica of [0, 1, 2]) await startProposer(replica);
});

afterAll(async () => {
  sending = false;
  await sender;
  for (const client of clients.values()) client.close();
  // Proposers first, while the leaders still record their LEAVE requests.
  await Promise.all(proposers.map((p) => p.stop()));
  await Promise.all(leaders.map((p) => p.stop()));
  blocksReplay?.stop();
  await blocksDone;
  await follower?.stop();
  await bus?.deleteStreams();
  await bus?.close();
  await store?.clear();
  await store?.close();
  if (!process.env.KEEP) rmSync(home, { recursive: true, force: true });
  else console.log(`logs in ${home}`);
});

describe("proposer replicas on NATS and Redis, with two leader replicas", () => {
  it("join, scale up, leave on SIGTERM, leave by eviction when killed, and lose no acknowledged transaction", async () => {
    const identities = await Promise.all(proposers.map(identityOf));
    for (const identity of identities) await waitActive(identity, true, 10_000);
    const firstU = 2 * slotAt(timing, Date.now());
    sending = true;
    sender = sendTransactions(100);
    await sleep(3_000);

    // Scaling up: a 4th replica claims a free pool key and is in the schedule within the
    // membership delay plus the time its request takes to be recorded.
    const fourth = await startProposer(3);
    const readyAt = slotAt(timing, Date.now());
    const fourthIdentity = await identityOf(fourth);
    const activeFrom = await waitActive(fourthIdentity, true, 20_000);
    console.log(
      `4th proposer: ready (holding a pool key, JOIN sent) in slot ${readyAt}, active at slot ${activeFrom}`,
    );
    // The request is recorded in the next slot or two, takes effect membershipDelaySlots later, and
    // this test sees it once that slot replays.
    expect(activeFrom - readyAt).toBeLessThanOrEqual(MEMBERSHIP_DELAY_SLOTS + 4);
    await sleep(3_000);

    // SIGTERM: it sends LEAVE, produces until the leave takes effect, hands its queue on, exits 0.
    const stopped = proposers[1]!;
    const stoppedIdentity = identities[1]!;
    expect(await stopped.stop()).toBe(0);
    await waitActive(stoppedIdentity, false, 5_000);
    const leave = chain()
      .flatMap((r) => r.membershipChanges)
      .find((c) => bytesEqual(c.change.proposer, stoppedIdentity) && c.change.action === "leave");
    // chain() runs newest first: this is the latest change for it.
    expect(leave?.change.cause).toBe("request");
    await sleep(3_000);

    // kill -9: nothing is sent; the ledger evicts it after its missed UserBlockSlots, and a
    // surviving replica adopts its pool key's pending intake.
    const killed = proposers[2]!;
    const killedIdentity = identities[2]!;
    await killed.kill();
    const killedAt = slotAt(timing, Date.now());
    const inactiveFrom = await waitActive(killedIdentity, false, 10_000);
    const eviction = chain()
      .flatMap((r) => r.membershipChanges)
      .find((c) => bytesEqual(c.change.proposer, killedIdentity) && c.change.recordedAtSlot >= killedAt);
    expect(eviction?.change.cause).toBe("eviction");
    console.log(`killed in slot ${killedAt}, out of the tip's schedule at slot ${inactiveFrom}`);
    expect(inactiveFrom - killedAt).toBeLessThanOrEqual(
      EVICTION_USER_BLOCK_SLOTS / 2 + MEMBERSHIP_DELAY_SLOTS + 4,
    );
    await sleep(3_000);

    sending = false;
    await sender;
    // Let every acknowledged transaction be recorded or dropped (the killed replica's after its
    // lease ends, the ack wait passes and a survivor adopts them).
    const statusIndex = new StatusIndex({ store });
    const recordedHashes = () => {
      const hashes = new Set<string>();
      for (const record of chain())
        for (const recordedSlot of record.userBlockSlots)
          for (const entry of recordedSlot.entries) hashes.add(toHex(entry.blockHash));
      return hashes;
    };
    const outstanding = async () => {
      const recorded = recordedHashes();
      const missing = [...acknowledged].filter(
        (id) => !(blockOfTransaction.get(id) ?? []).some((hash) => recorded.has(hash)),
      );
      const statuses = await statusIndex.get(missing.map((id) => Uint8Array.from(Buffer.from(id, "hex"))));
      return missing.filter((_, i) => statuses[i]!.droppedReason === null);
    };
    let left = await outstanding();
    for (
      const deadline = Date.now() + 20_000;
      left.length > 0 && Date.now() < deadline;
      left = await outstanding()
    )
      await sleep(500);
    expect(left, "acknowledged, neither recorded nor dropped").toEqual([]);

    // Every well-formed UserBlock of a scheduled proposer is recorded by the slot that covers its
    // UserBlockSlot, after that UserBlockSlot ended, unless a leader refused it as late (which
    // the leaders count): every block missing from the ledger must be one of those.
    const recorded = recordedHashes();
    let checked = 0;
    let missing = 0;
    for (const record of chain()) {
      for (const recordedSlot of record.userBlockSlots) {
        const u = recordedSlot.userBlockSlot;
        if (u < firstU) continue;
        for (const [hash, block] of published) {
          if (block.u !== u || !recordedSlot.activeProposers.some((p) => toHex(p) === block.proposer))
            continue;
          if (!checkUserBlock(genesis, block.bytes, recordedSlot.activeProposers).ok) continue;
          checked += 1;
          if (!recorded.has(hash)) missing += 1;
        }
        if (recordedSlot.entries.length > 0)
          expect(replayedAt.get(record.slot)!).toBeGreaterThanOrEqual(userBlockSlotEndMs(timing, u));
      }
    }
    const refusedLate = (await Promise.all(leaders.map(lateRefusals))).reduce((a, b) => a + b, 0);
    expect(missing).toBeLessThanOrEqual(refusedLate);
    const dropped =
      acknowledged.size -
      [...acknowledged].filter((id) => (blockOfTransaction.get(id) ?? []).some((h) => recorded.has(h)))
        .length;
    console.log(
      `${acknowledged.size} transactions acknowledged, ${acknowledged.size - dropped} recorded, ${dropped} dropped with a reason; ` +
        `${checked} well-formed UserBlocks, ${checked - missing} recorded, ${missing} not (leaders refused ${refusedLate} as late); refusals: ${JSON.stringify(Object.fromEntries(refusals))}`,
    );
    expect(acknowledged.size).toBeGreaterThan(500);
    expect(checked).toBeGreaterThan(50);
  });
});
