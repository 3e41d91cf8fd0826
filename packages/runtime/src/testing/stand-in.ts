import type { Bus, Replay } from "@simd23/bus";
import {
  buildTransaction,
  buildVote,
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
  type SignedVote,
  type SlotBuilder,
  type SlotRecord,
  signEnvelope,
  signVote,
  slotStartMs,
  toHex,
  transferInstruction,
  type ValidTransaction,
} from "@simd23/core";
import { ledger } from "@simd23/proto";
import { openVoteMessage } from "../consensus-messages.js";
import { SignedPublisher } from "../publisher.js";
import { subjects } from "../subjects.js";

/**
 * What every stand-in leader of the test ledgers shares: the cluster's keys
 * (derived from the cluster seed, as the roles derive theirs), the chain
 * states and records of the slots it built, the votes it saw on VOTES, and
 * the way a slot goes out on LEDGER — signed by the slot's scheduled leader.
 * The ledgers differ only in what a slot holds: UserBlocks they propose
 * themselves (TestLedger), executed transactions (SyncTestLedger), or what
 * real proposers publish (LiveTestLedger).
 */
export abstract class LedgerStandIn {
  readonly context: LedgerContext;
  protected readonly states = new Map<number, ChainState>();
  protected readonly records = new Map<number, SlotRecord>();
  protected readonly validators: readonly Keypair[];
  protected readonly proposers: readonly Keypair[];
  protected readonly verifier: Keypair;
  private readonly pendingVotes = new Map<string, { slot: number; signed: SignedVote }>();
  private votes: Replay | undefined;
  private newest = 0;

  constructor(
    protected readonly bus: Bus,
    readonly genesis: Genesis,
    clusterSeed: Uint8Array,
  ) {
    this.context = createLedgerContext(genesis);
    this.states.set(0, genesisChainState(this.context));
    this.validators = genesis.validators.map((_, i) => deriveKeypair(clusterSeed, KEY_ROLES.validator, i));
    this.proposers = genesis.proposerPool.map((_, i) => deriveKeypair(clusterSeed, KEY_ROLES.proposer, i));
    this.verifier = deriveKeypair(clusterSeed, KEY_ROLES.verifier, 0);
  }

  /** The newest slot built (0, genesis, before any). */
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
    const key = this.proposers[poolIndex];
    if (key === undefined) throw new RangeError(`no pool proposer ${poolIndex}`);
    return key;
  }

  /** Builds and publishes a slot on the newest one: what runRealTime produces. */
  abstract produceSlot(slot: number): Promise<SlotRecord>;

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

  /** Validator `index`'s signed vote on slot (a tower of one lockout, with the given root). */
  signedVote(index: number, slot: number, root: number | null = null): SignedVote {
    const validator = this.validators[index]!;
    return signVote(
      validator,
      buildVote({
        validator: validator.publicKey,
        slot,
        slotHash: this.parentState(slot).lastHash,
        tower: { lockouts: [{ slot, confirmationCount: 1 }], root },
        bankHash: null,
        timestampMs: Date.now(),
      }),
    );
  }

  /** The parent's chain state; throws when that slot was not built. */
  protected parentState(parentSlot: number): ChainState {
    const parent = this.states.get(parentSlot);
    if (parent === undefined) throw new Error(`no state for parent slot ${parentSlot}`);
    return parent;
  }

  /** The validator key the leader schedule names for the slot. */
  protected leaderOf(slot: number): Keypair {
    const identity = this.context.leaders.leaderOf(slot);
    return this.validators.find((k) => bytesEqual(k.publicKey, identity))!;
  }

  protected proposerOf(identity: Uint8Array): Keypair {
    const key = this.proposers.find((k) => bytesEqual(k.publicKey, identity));
    if (key === undefined) throw new RangeError(`${toHex(identity)} is not a pool proposer`);
    return key;
  }

  /** A transfer signed by `from`, naming the newest slot's blockhash. */
  protected signedTransfer(
    from: Keypair,
    to: Uint8Array,
    lamports: bigint,
    computeUnitPrice: bigint,
  ): ValidTransaction {
    return buildTransaction(
      {
        recentBlockhash: this.parentState(this.newest).lastHash,
        computeUnitLimit: 1_000,
        computeUnitPrice,
        instructions: [transferInstruction(0, to, lamports)],
      },
      [from],
      this.genesis.limits,
    );
  }

  /**
   * The votes seen on VOTES that a slot on `parentSlot` may record (for an
   * earlier slot, at most 64 slots back); those older than the slot are
   * forgotten, as a leader records each vote once.
   */
  protected takeStreamVotes(slot: number, parentSlot: number): SignedVote[] {
    const due = [...this.pendingVotes.values()].filter((v) => v.slot < slot && v.slot >= parentSlot - 64);
    for (const [key, pending] of this.pendingVotes) if (pending.slot < slot) this.pendingVotes.delete(key);
    return due.map((v) => v.signed);
  }

  /** A pool proposer's join, signed, as the slot rules record it; undefined when they refuse it. */
  protected recordJoin(
    builder: SlotBuilder,
    poolIndex: number,
    requestedAtSlot: number,
  ): ledger.SlotEntry | undefined {
    const proposer = this.proposerKey(poolIndex);
    const request = ledger.MembershipRequest.encode({
      proposer: proposer.publicKey,
      action: ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN,
      requestedAtSlot,
    }).finish();
    const signed = signEnvelope(proposer, EnvelopeKind.KIND_MEMBERSHIP_REQUEST, request);
    const recorded = builder.recordMembership(request, signed.signature);
    return recorded.ok ? recorded.entry : undefined;
  }

  /** Hashes to the next tick and ticks. */
  protected tick(builder: SlotBuilder): ledger.SlotEntry {
    builder.hash(builder.hashesUntilTick);
    return builder.tick();
  }

  /** Keeps the slot's chain state and record: later slots may build on it. */
  protected accept(record: SlotRecord): void {
    this.states.set(record.slot, record.next);
    this.records.set(record.slot, record);
    this.newest = Math.max(this.newest, record.slot);
  }

  /**
   * Publishes a slot on LEDGER, each message sealed by its leader, in order.
   * With `dedup`, each carries the id `<slot>.<index>` (one producer per slot:
   * republishing after a retry stores it once).
   */
  protected async publishSlot(
    builder: SlotBuilder,
    entries: readonly ledger.SlotEntry[],
    end: ledger.SlotEnd,
    leader: Keypair,
    dedup = false,
  ): Promise<void> {
    const publisher = new SignedPublisher(this.bus, leader);
    const slot = builder.slot;
    const messages: ledger.LedgerMessage[] = [
      { kind: { $case: "start", value: builder.start } },
      ...entries.map((entry) => ({ kind: { $case: "entry" as const, value: entry } })),
      { kind: { $case: "end", value: end } },
    ];
    // One bus stores its publishes in the order they were made.
    await Promise.all(
      messages.map((message, i) =>
        publisher.publish(
          EnvelopeKind.KIND_LEDGER,
          subjects.ledgerSlot(slot),
          ledger.LedgerMessage.encode(message).finish(),
          dedup ? { msgId: `${slot}.${i}` } : {},
        ),
      ),
    );
  }
}
