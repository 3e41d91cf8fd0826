import { type handleUnaryCall, Server, ServerCredentials } from "@grpc/grpc-js";
import type { Bus, Replay } from "@simd23/bus";
import {
  buildTransaction,
  bytesEqual,
  type ChainState,
  createLedgerContext,
  deriveKeypair,
  EnvelopeKind,
  type Genesis,
  genesisChainState,
  KEY_ROLES,
  type Keypair,
  type LedgerContext,
  recordingTickHeight,
  type SignedVote,
  SlotBuilder,
  type SlotRecord,
  signEnvelope,
  slotStartMs,
  toHex,
  transferInstruction,
  UserBlockBuilder,
  type WellFormedUserBlock,
} from "@simd23/core";
import { ledger, proposer, type tx } from "@simd23/proto";
import { openVoteMessage } from "./consensus-messages.js";
import { SignedPublisher } from "./publisher.js";
import { subjects } from "./subjects.js";

/**
 * A stand-in leader and proposer pool for tests of the roles that consume the
 * ledger: it builds slots with the core's SlotBuilder (recording proposers'
 * joins, their UserBlockEntries and the votes seen on VOTES) and UserBlocks with
 * the UserBlockBuilder, signs everything with the cluster's derived keys and
 * publishes it as a leader and proposers would.
 */
export class TestLedger {
  readonly context: LedgerContext;
  readonly blocks = new Map<string, WellFormedUserBlock>();
  private readonly states = new Map<number, ChainState>();
  private readonly records = new Map<number, SlotRecord>();
  private readonly validators: Keypair[];
  private readonly proposers: Keypair[];
  private readonly pendingJoins: number[] = [];
  private readonly pendingItems: tx.TransactionItem[] = [];
  private readonly pendingVotes = new Map<string, { slot: number; signed: SignedVote }>();
  private votes: Replay | undefined;
  private newest = 0;

  constructor(
    private readonly bus: Bus,
    readonly genesis: Genesis,
    clusterSeed: Uint8Array,
  ) {
    this.context = createLedgerContext(genesis);
    this.states.set(0, genesisChainState(this.context));
    this.validators = genesis.validators.map((_, i) => deriveKeypair(clusterSeed, KEY_ROLES.validator, i));
    this.proposers = genesis.proposerPool.map((_, i) => deriveKeypair(clusterSeed, KEY_ROLES.proposer, i));
  }

  get newestSlot(): number {
    return this.newest;
  }

  state(slot: number): ChainState | undefined {
    return this.states.get(slot);
  }

  record(slot: number): SlotRecord | undefined {
    return this.records.get(slot);
  }

  proposerKey(poolIndex: number): Keypair {
    return this.proposers[poolIndex]!;
  }

  /** Pool proposers whose join the next slot records. */
  join(...poolIndices: number[]): void {
    this.pendingJoins.push(...poolIndices);
  }

  /** A transfer signed by `from`, naming the newest slot's blockhash; it goes into the next UserBlocks. */
  transfer(from: Keypair, to: Uint8Array, lamports: bigint, computeUnitPrice = 0n): tx.Transaction {
    const transaction = buildTransaction(
      {
        recentBlockhash: this.states.get(this.newest)!.lastHash,
        computeUnitLimit: 1_000,
        computeUnitPrice,
        instructions: [transferInstruction(0, to, lamports)],
      },
      [from],
      this.genesis.limits,
    );
    this.pendingItems.push({ item: { $case: "transaction", value: transaction.wire } });
    return transaction.wire;
  }

  /** Records the valid votes published on VOTES in the following slots, as a leader does. */
  recordVotesFromStream(): void {
    const replay = this.bus.replay({ stream: "VOTES", filterSubjects: [subjects.allVotes], start: "new" });
    this.votes = replay;
    void (async () => {
      for await (const message of replay) {
        const opened = openVoteMessage(this.genesis, message.data);
        if (!opened.ok) continue;
        const { vote, signed } = opened.vote;
        this.pendingVotes.set(`${toHex(vote.validator)}/${vote.slot}`, { slot: vote.slot, signed });
      }
    })();
  }

  stop(): void {
    this.votes?.stop();
  }

  /**
   * Builds slot on parentSlot (default: the newest slot) and publishes its UserBlocks
   * and its LEDGER messages. Every active proposer builds a block for both
   * UserBlockSlots the slot records, holding the pending transfers (the first
   * active proposer takes them), so no proposer is evicted for missing blocks.
   */
  async produceSlot(slot: number, parentSlot = this.newest): Promise<SlotRecord> {
    const parent = this.states.get(parentSlot);
    if (parent === undefined) throw new Error(`no state for parent slot ${parentSlot}`);
    const leaderIdentity = this.context.leaders.leaderOf(slot);
    const leader = this.validators.find((k) => bytesEqual(k.publicKey, leaderIdentity))!;
    const builder = new SlotBuilder(this.context, parent, slot, leader.publicKey);
    const due: { userBlockSlot: number; blocks: WellFormedUserBlock[] }[] = [];
    for (const userBlockSlot of [2 * slot - 1, 2 * slot]) {
      const active = builder.schedule.activeAt(userBlockSlot);
      const blocks = active.map((identity, i) => {
        const key = this.proposers.find((k) => bytesEqual(k.publicKey, identity))!;
        const block = new UserBlockBuilder({
          genesis: this.genesis,
          keypair: key,
          userBlockSlot,
          activeProposerCount: active.length,
        });
        if (i === 0) {
          const items = this.pendingItems.splice(0);
          if (items.length > 0) {
            const added = block.addEntry(1, items);
            if (!added.ok) throw new Error(`UserBlock refused the test items: ${added.detail}`);
          }
        }
        return block.finish();
      });
      for (const block of blocks) {
        this.blocks.set(toHex(block.blockHash), block);
        await new SignedPublisher(this.bus, this.proposerKey(this.poolIndexOf(block.proposer))).publish(
          EnvelopeKind.KIND_USER_BLOCK,
          subjects.userBlock(block.userBlockSlot, block.proposer, block.blockHash),
          block.bytes,
        );
      }
      due.push({ userBlockSlot, blocks });
    }
    const entries: ledger.SlotEntry[] = [];
    const joins = this.pendingJoins.splice(0);
    const votes = [...this.pendingVotes.values()].filter((v) => v.slot < slot && v.slot >= parentSlot - 64);
    for (const key of this.pendingVotes.keys()) {
      if ((this.pendingVotes.get(key)?.slot ?? 0) < slot) this.pendingVotes.delete(key);
    }
    builder.hash(1);
    while (!builder.complete) {
      if (builder.canRecord) {
        for (const poolIndex of joins.splice(0)) {
          if (!builder.canRecord) break;
          const request = ledger.MembershipRequest.encode({
            proposer: this.proposers[poolIndex]!.publicKey,
            action: ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN,
            requestedAtSlot: parentSlot,
          }).finish();
          const signed = signEnvelope(
            this.proposers[poolIndex]!,
            EnvelopeKind.KIND_MEMBERSHIP_REQUEST,
            request,
          );
          const recorded = builder.recordMembership(request, signed.signature);
          if (recorded.ok) entries.push(recorded.entry);
        }
        if (votes.length > 0 && builder.canRecord) {
          const recorded = builder.recordVotes(votes.splice(0).map((v) => v.signed));
          if (recorded.ok) entries.push(recorded.entry);
        }
        for (const pending of due) {
          if (
            pending.blocks.length === 0 ||
            builder.tickHeight < recordingTickHeight(this.genesis.timing, pending.userBlockSlot)
          )
            continue;
          for (const block of pending.blocks.splice(0)) {
            if (!builder.canRecord) break;
            entries.push(
              builder.recordUserBlock({
                blockHash: block.blockHash,
                proposer: block.proposer,
                userBlockSlot: block.userBlockSlot,
              }),
            );
          }
        }
      }
      builder.hash(builder.hashesUntilTick);
      entries.push(builder.tick());
    }
    const { end, record } = builder.end();
    const publisher = new SignedPublisher(this.bus, leader);
    const messages: ledger.LedgerMessage[] = [
      { kind: { $case: "start", value: builder.start } },
      ...entries.map((entry) => ({ kind: { $case: "entry" as const, value: entry } })),
      { kind: { $case: "end", value: end } },
    ];
    for (const message of messages) {
      await publisher.publish(
        EnvelopeKind.KIND_LEDGER,
        subjects.ledgerSlot(slot),
        ledger.LedgerMessage.encode(message).finish(),
      );
    }
    this.states.set(slot, record.next);
    this.records.set(slot, record);
    this.newest = Math.max(this.newest, slot);
    return record;
  }

  /**
   * Produces the slots after the newest one, each published once its wall-clock
   * time has ended (as a leader ends a slot), until the signal aborts. Slots
   * whose time already passed are produced at once, one after the other, so a
   * late start catches up instead of skipping slots.
   */
  async runRealTime(signal: AbortSignal, onSlot?: (record: SlotRecord) => void): Promise<void> {
    const timing = this.genesis.timing;
    while (!signal.aborted) {
      const slot = this.newest + 1;
      const wait = slotStartMs(timing, slot + 1) - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (signal.aborted) return;
      const record = await this.produceSlot(slot);
      onSlot?.(record);
    }
  }

  private poolIndexOf(identity: Uint8Array): number {
    return this.proposers.findIndex((k) => bytesEqual(k.publicKey, identity));
  }
}

/**
 * A ProposerService that answers GetUserBlock from a TestLedger's blocks, for
 * repair; `serves(blockHashHex)` decides whether a block is handed out yet.
 */
export async function startRepairServer(
  source: TestLedger,
  serves: (blockHashHex: string) => boolean,
): Promise<{ readonly address: string; readonly requests: string[]; stop(): Promise<void> }> {
  const server = new Server();
  const requests: string[] = [];
  const getUserBlock: handleUnaryCall<proposer.GetUserBlockRequest, proposer.GetUserBlockResponse> = (
    call,
    callback,
  ) => {
    const hash = toHex(call.request.blockHash);
    requests.push(hash);
    const block = serves(hash) ? source.blocks.get(hash) : undefined;
    callback(null, { userBlock: block?.block });
  };
  const unimplemented = (_call: unknown, callback: (error: Error) => void): void =>
    callback(new Error("not served by the test repair server"));
  server.addService(proposer.ProposerServiceService, {
    getUserBlock,
    submitTransaction: unimplemented,
    submitBundle: unimplemented,
    getLatestBlockhash: unimplemented,
    getProposerStatus: unimplemented,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
