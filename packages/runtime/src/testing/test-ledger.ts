import {
  buildTransaction,
  EnvelopeKind,
  encodeSignedVote,
  type Keypair,
  keypairFromSeed,
  recordingTickHeight,
  type SignedVote,
  SlotBuilder,
  type SlotRecord,
  sha256,
  toHex,
  transferInstruction,
  UserBlockBuilder,
  utf8,
  VerdictLevel,
  type WellFormedUserBlock,
} from "@simd23/core";
import { control, type ledger, tx } from "@simd23/proto";
import { SignedPublisher } from "../publisher.js";
import { subjects } from "../subjects.js";
import { LedgerStandIn } from "./stand-in.js";

/** How TestLedger.produceSlot builds a slot. */
export interface ProduceSlotOptions {
  /** The slot it builds on (default: the newest slot). */
  readonly parentSlot?: number;
  /** Votes it records beside those seen on VOTES (recordVotesFromStream). */
  readonly votes?: readonly SignedVote[];
  /** false: built, kept as a parent, but never published (a slot the consumers never see). */
  readonly publish?: boolean;
}

/**
 * A stand-in leader and proposer pool for tests of the roles that consume the
 * ledger, built with the core: UserBlocks with the UserBlockBuilder (every
 * active proposer builds one for each UserBlockSlot a slot records; the first
 * holds the pending transfers), slots with the SlotBuilder (the pool
 * proposers' joins, the votes, the UserBlockEntries), and the verifier's
 * verdicts and halt — each signed by its genesis identity and published where
 * the real role publishes it.
 */
export class TestLedger extends LedgerStandIn {
  /** Every UserBlock built, by hex hash (a repair server hands them out). */
  readonly blocks = new Map<string, WellFormedUserBlock>();
  private readonly blocksOfSlot = new Map<number, WellFormedUserBlock[]>();
  private readonly pendingJoins: number[] = [];
  private pendingItems: tx.TransactionItem[] = [];
  private users = 0;

  /** Pool proposers whose join the next slot records (in effect membershipDelaySlots later). */
  join(...poolIndices: number[]): void {
    this.pendingJoins.push(...poolIndices);
  }

  /**
   * A transfer for the next UserBlocks. Without arguments: 1 lamport to the
   * faucet from a fresh fee payer (which cannot pay it), when only its id
   * matters; returns the id. Otherwise signed by `from`, naming the newest
   * slot's blockhash; returns the transaction.
   */
  transfer(): Uint8Array;
  transfer(from: Keypair, to: Uint8Array, lamports: bigint, computeUnitPrice?: bigint): tx.Transaction;
  transfer(
    from?: Keypair,
    to?: Uint8Array,
    lamports?: bigint,
    computeUnitPrice = 0n,
  ): tx.Transaction | Uint8Array {
    if (from === undefined || to === undefined || lamports === undefined) {
      const user = keypairFromSeed(sha256(utf8(`simd23/test-ledger/user/${this.users++}`)));
      const transaction = buildTransaction(
        {
          recentBlockhash: this.parentState(this.newestSlot).lastHash,
          computeUnitLimit: 1_000,
          computeUnitPrice: 0n,
          instructions: [transferInstruction(0, this.genesis.faucet, 1n)],
        },
        [user],
        this.genesis.limits,
      );
      this.pendingItems.push({ item: { $case: "transaction", value: transaction.wire } });
      return transaction.id;
    }
    const transaction = this.signedTransfer(from, to, lamports, computeUnitPrice);
    this.pendingItems.push({ item: { $case: "transaction", value: transaction.wire } });
    return transaction.wire;
  }

  /**
   * Builds and publishes (on USERBLOCKS) the UserBlocks slot `slot` on
   * `parentSlot` records: one per active proposer of each of its two
   * UserBlockSlots, the pending transfers in the first.
   */
  async proposeFor(slot: number, parentSlot = this.newestSlot): Promise<WellFormedUserBlock[]> {
    const leader = this.leaderOf(slot);
    const { schedule } = new SlotBuilder(this.context, this.parentState(parentSlot), slot, leader.publicKey);
    const blocks: WellFormedUserBlock[] = [];
    for (const userBlockSlot of [2 * slot - 1, 2 * slot]) {
      const active = schedule.activeAt(userBlockSlot);
      for (const identity of active) {
        const builder = new UserBlockBuilder({
          genesis: this.genesis,
          keypair: this.proposerOf(identity),
          userBlockSlot,
          activeProposerCount: active.length,
        });
        if (this.pendingItems.length > 0) {
          const added = builder.addEntry(1, this.pendingItems);
          if (!added.ok) throw new Error(`the UserBlock refused the test transactions: ${added.detail}`);
          this.pendingItems = [];
        }
        const block = builder.finish();
        blocks.push(block);
        this.blocks.set(toHex(block.blockHash), block);
        await new SignedPublisher(this.bus, this.proposerOf(identity)).publish(
          EnvelopeKind.KIND_USER_BLOCK,
          subjects.userBlock(block.userBlockSlot, block.proposer, block.blockHash),
          block.bytes,
        );
      }
    }
    this.blocksOfSlot.set(slot, blocks);
    return blocks;
  }

  /**
   * Builds slot `slot` on its parent (a slot number, or the options' parent;
   * default the newest slot) as a leader would — the pending joins, the votes,
   * the UserBlockEntries of the blocks proposed for it (proposeFor; when none
   * were, they are proposed now) — and publishes it on LEDGER.
   */
  async produceSlot(slot: number, parent: number | ProduceSlotOptions = {}): Promise<SlotRecord> {
    const options: ProduceSlotOptions = typeof parent === "number" ? { parentSlot: parent } : parent;
    const parentSlot = options.parentSlot ?? this.newestSlot;
    const leader = this.leaderOf(slot);
    const builder = new SlotBuilder(this.context, this.parentState(parentSlot), slot, leader.publicKey);
    const blocks = [...(this.blocksOfSlot.get(slot) ?? (await this.proposeFor(slot, parentSlot)))];
    const joins = this.pendingJoins.splice(0);
    const votes = [...(options.votes ?? []), ...this.takeStreamVotes(slot, parentSlot)];
    const entries: ledger.SlotEntry[] = [];
    builder.hash(1);
    while (!builder.complete) {
      while (builder.canRecord && joins.length > 0) {
        const entry = this.recordJoin(builder, joins.shift()!, parentSlot);
        if (entry !== undefined) entries.push(entry);
      }
      if (builder.canRecord && votes.length > 0) {
        const recorded = builder.recordVotes(votes.splice(0));
        if (recorded.ok) entries.push(recorded.entry);
      }
      for (let i = 0; i < blocks.length && builder.canRecord; ) {
        const block = blocks[i]!;
        if (builder.tickHeight < recordingTickHeight(this.genesis.timing, block.userBlockSlot)) {
          i++;
          continue;
        }
        entries.push(
          builder.recordUserBlock({
            blockHash: block.blockHash,
            proposer: block.proposer,
            userBlockSlot: block.userBlockSlot,
          }),
        );
        blocks.splice(i, 1);
      }
      entries.push(this.tick(builder));
    }
    if (blocks.length > 0) throw new Error(`slot ${slot} could not record ${blocks.length} UserBlocks`);
    const { end, record } = builder.end();
    this.accept(record);
    if (options.publish !== false) await this.publishSlot(builder, entries, end, leader);
    return record;
  }

  /** Publishes validator `index`'s vote on VOTES, as its executor does. */
  async vote(index: number, slot: number, root: number | null = null): Promise<SignedVote> {
    const signed = this.signedVote(index, slot, root);
    await new SignedPublisher(this.bus, this.validators[index]!).publish(
      EnvelopeKind.KIND_VOTE,
      subjects.vote(this.validators[index]!.publicKey),
      encodeSignedVote(signed),
    );
    return signed;
  }

  /** The results an executor reports for the transactions of the UserBlocks proposed for a slot. */
  resultsOf(slot: number, status = tx.ExecutionStatus.EXECUTION_STATUS_OK): control.TransactionResult[] {
    return (this.blocksOfSlot.get(slot) ?? []).flatMap((block) =>
      block.items.flatMap((item) =>
        item.item.item?.$case === "transaction"
          ? [
              {
                signature: item.item.item.value.signatures[0]!,
                status,
                fee: 5_000n,
                slot,
                userBlockSlot: block.userBlockSlot,
                proposer: block.proposer,
              },
            ]
          : [],
      ),
    );
  }

  /** The verifier's verdict for slot, sealed and published as the bank-hash verifier does. */
  async verdict(
    slot: number,
    level: VerdictLevel,
    results: readonly control.TransactionResult[] = [],
  ): Promise<void> {
    const total = this.genesis.validators.reduce((sum, v) => sum + v.stake, 0n);
    const verdict: control.SlotVerdict = {
      slot,
      level,
      tally: { matched: total, mismatched: 0n, missing: 0n, total },
      results: level === VerdictLevel.VERDICT_LEVEL_EXECUTED ? [...results] : [],
      userBlockSlots: [2 * slot - 1, 2 * slot],
    };
    await new SignedPublisher(this.bus, this.verifier).publish(
      EnvelopeKind.KIND_SLOT_VERDICT,
      subjects.verdicts,
      control.SlotVerdict.encode(verdict).finish(),
      { msgId: `verdict/${slot}/${level}` },
    );
  }

  /** The verifier's halt at slot, naming the first `mismatching` validators. */
  async halt(slot: number, mismatching: number): Promise<control.Halt> {
    const total = this.genesis.validators.reduce((sum, v) => sum + v.stake, 0n);
    const wrong = this.genesis.validators.slice(0, mismatching);
    const mismatched = wrong.reduce((sum, v) => sum + v.stake, 0n);
    const halt: control.Halt = {
      slot,
      tally: { matched: total - mismatched, mismatched, missing: 0n, total },
      evidence: wrong.map((v) => ({
        validator: v.identity,
        stake: v.stake,
        commitment: sha256(utf8(`wrong bank hash ${slot}`)),
        signedMessage: new Uint8Array(0),
      })),
      reason: "more than 1/3 of stake computed a different BankHash",
      haltedAtMs: BigInt(Date.now()),
    };
    await new SignedPublisher(this.bus, this.verifier).publish(
      EnvelopeKind.KIND_HALT,
      subjects.halt,
      control.Halt.encode(halt).finish(),
    );
    return halt;
  }
}
