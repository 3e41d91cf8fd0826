import type { Bus } from "@simd23/bus";
import {
  buildTransaction,
  buildVote,
  bytesEqual,
  type ChainState,
  createLedgerContext,
  deriveKeypair,
  EnvelopeKind,
  encodeSignedVote,
  type Genesis,
  genesisChainState,
  KEY_ROLES,
  type Keypair,
  keypairFromSeed,
  type LedgerContext,
  recordingTickHeight,
  type SignedVote,
  SlotBuilder,
  type SlotRecord,
  sha256,
  signEnvelope,
  signVote,
  transferInstruction,
  UserBlockBuilder,
  utf8,
  VerdictLevel,
  type WellFormedUserBlock,
} from "@simd23/core";
import { control, ledger, tx } from "@simd23/proto";
import { SignedPublisher, subjects } from "@simd23/runtime";

/**
 * The producers the aggregator listens to, played by a test with the core: a leader building
 * slots (membership joins, UserBlockEntries, recorded votes) with SlotBuilder, proposers
 * building UserBlocks with UserBlockBuilder, validators' votes (buildVote/signVote), and the
 * verifier's verdicts and halt, each sealed by its genesis identity and published where the
 * real role publishes it.
 */
export class TestCluster {
  readonly context: LedgerContext;
  private readonly states = new Map<number, ChainState>();
  private readonly validators: Keypair[];
  private readonly proposers: Keypair[];
  private readonly verifier: Keypair;
  private readonly pendingJoins: number[] = [];
  private pendingItems: tx.TransactionItem[] = [];
  private readonly blocksOfSlot = new Map<number, WellFormedUserBlock[]>();
  private userCount = 0;
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
    this.verifier = deriveKeypair(clusterSeed, KEY_ROLES.verifier, 0);
  }

  get newestSlot(): number {
    return this.newest;
  }

  /** Pool proposers whose join request the next slot records (in effect membershipDelaySlots later). */
  join(...poolIndices: number[]): void {
    this.pendingJoins.push(...poolIndices);
  }

  /** A new transfer, for the next UserBlocks; returns its signature (its id). */
  transfer(): Uint8Array {
    const user = keypairFromSeed(sha256(utf8(`vote-aggregator-test/user/${this.userCount++}`)));
    const transaction = buildTransaction(
      {
        recentBlockhash: this.states.get(this.newest)!.lastHash,
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

  /** Builds the UserBlocks the slot will record and publishes them on USERBLOCKS (the pending transfers go in the first). */
  async proposeFor(slot: number, parentSlot = this.newest): Promise<WellFormedUserBlock[]> {
    const parent = this.stateOf(parentSlot);
    const blocks: WellFormedUserBlock[] = [];
    for (const userBlockSlot of [2 * slot - 1, 2 * slot]) {
      const active = parent.schedule.activeAt(userBlockSlot);
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
   * Builds the slot on parentSlot as a leader would, recording the pending joins, the given
   * votes and the UserBlockEntries of the blocks proposed for it, and publishes it on LEDGER.
   * `publish: false` builds it only (a slot the aggregator never sees).
   */
  async produceSlot(
    slot: number,
    options: {
      readonly parentSlot?: number;
      readonly votes?: readonly SignedVote[];
      readonly publish?: boolean;
    } = {},
  ): Promise<SlotRecord> {
    const parentSlot = options.parentSlot ?? this.newest;
    const parent = this.stateOf(parentSlot);
    const leader = this.leaderOf(slot);
    const builder = new SlotBuilder(this.context, parent, slot, leader.publicKey);
    const blocks = [...(this.blocksOfSlot.get(slot) ?? [])];
    const joins = this.pendingJoins.splice(0);
    const votes = [...(options.votes ?? [])];
    const entries: ledger.SlotEntry[] = [];
    builder.hash(1);
    while (!builder.complete) {
      if (builder.canRecord && joins.length > 0) {
        const poolIndex = joins.shift()!;
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
        if (!recorded.ok) throw new Error(`membership refused: ${recorded.violation.detail}`);
        entries.push(recorded.entry);
      }
      if (builder.canRecord && votes.length > 0) {
        const recorded = builder.recordVotes(votes.splice(0));
        if (!recorded.ok) throw new Error(`votes refused: ${recorded.violation.detail}`);
        entries.push(recorded.entry);
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
      builder.hash(builder.hashesUntilTick);
      entries.push(builder.tick());
    }
    if (blocks.length > 0) throw new Error(`slot ${slot} could not record ${blocks.length} UserBlocks`);
    const { end, record } = builder.end();
    this.states.set(slot, record.next);
    this.newest = Math.max(this.newest, slot);
    if (options.publish === false) return record;
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
    return record;
  }

  /** Validator `index`'s signed vote on slot (a tower of one lockout, with the given root). */
  signedVote(index: number, slot: number, root: number | null = null): SignedVote {
    const validator = this.validators[index]!;
    return signVote(
      validator,
      buildVote({
        validator: validator.publicKey,
        slot,
        slotHash: this.stateOf(slot).lastHash,
        tower: { lockouts: [{ slot, confirmationCount: 1 }], root },
        bankHash: null,
        timestampMs: Date.now(),
      }),
    );
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

  /** The results an executor reports for the transactions of the slot's UserBlocks. */
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

  private stateOf(slot: number): ChainState {
    const state = this.states.get(slot);
    if (state === undefined) throw new Error(`slot ${slot} was not produced`);
    return state;
  }

  private leaderOf(slot: number): Keypair {
    const identity = this.context.leaders.leaderOf(slot);
    return this.validators.find((k) => bytesEqual(k.publicKey, identity))!;
  }

  private proposerOf(identity: Uint8Array): Keypair {
    return this.proposers.find((k) => bytesEqual(k.publicKey, identity))!;
  }
}
