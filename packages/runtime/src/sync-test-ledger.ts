import type { Bus, Replay } from "@simd23/bus";
import {
  type Bank,
  buildTransaction,
  bytesEqual,
  type ChainState,
  createGenesisBank,
  createLedgerContext,
  deriveKeypair,
  EnvelopeKind,
  ExecutionMode,
  type Genesis,
  genesisChainState,
  KEY_ROLES,
  type Keypair,
  type LedgerContext,
  perturbedBankHash,
  type SignedVote,
  SlotBuilder,
  type SlotRecord,
  slotStartMs,
  toHex,
  transferInstruction,
} from "@simd23/core";
import { type control, ledger, type tx } from "@simd23/proto";
import { openVoteMessage } from "./consensus-messages.js";
import { SignedPublisher } from "./publisher.js";
import { subjects } from "./subjects.js";

/** How the stand-in sync leader ends a slot. */
export interface SyncSlotOptions {
  /** Records a deliberately wrong SlotEnd.bankHash (a lying or broken leader). */
  readonly wrongBankHash?: boolean;
}

/**
 * A stand-in sync-mode leader for tests of the roles that consume a sync
 * ledger: it keeps a bank per slot, executes the transactions handed to it
 * (Bank.executeItems, in the order given) when it builds a slot, records the
 * items that paid a fee as one TransactionEntry, records the votes seen on
 * VOTES, and ends every slot with its BankHash — as the leader service does,
 * without its clock and feed.
 */
export class SyncTestLedger {
  readonly context: LedgerContext;
  private readonly states = new Map<number, ChainState>();
  private readonly records = new Map<number, SlotRecord>();
  private readonly banks = new Map<number, Bank>();
  private readonly slotResults = new Map<number, control.TransactionResult[]>();
  private readonly validators: Keypair[];
  private readonly pendingItems: tx.TransactionItem[] = [];
  private readonly pendingVotes = new Map<string, { slot: number; signed: SignedVote }>();
  private votes: Replay | undefined;
  private newest = 0;

  constructor(
    private readonly bus: Bus,
    readonly genesis: Genesis,
    clusterSeed: Uint8Array,
  ) {
    if (genesis.mode !== ExecutionMode.EXECUTION_MODE_SYNC)
      throw new RangeError("SyncTestLedger needs a sync-mode genesis");
    this.context = createLedgerContext(genesis);
    this.states.set(0, genesisChainState(this.context));
    this.banks.set(0, createGenesisBank(genesis));
    this.validators = genesis.validators.map((_, i) => deriveKeypair(clusterSeed, KEY_ROLES.validator, i));
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

  /** The leader's frozen bank of a slot it built. */
  bank(slot: number): Bank | undefined {
    return this.banks.get(slot);
  }

  /** The leader's results of a slot, in execution order (the refused items' too). */
  results(slot: number): readonly control.TransactionResult[] {
    return this.slotResults.get(slot) ?? [];
  }

  /** A transfer signed by `from`, naming the newest slot's blockhash, executed in the next slot. */
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
    this.submit({ item: { $case: "transaction", value: transaction.wire } });
    return transaction.wire;
  }

  /** An item executed in the next slot, after those submitted before it. */
  submit(item: tx.TransactionItem): void {
    this.pendingItems.push(item);
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
   * Builds slot on parentSlot (default: the newest slot): records the pending
   * votes, executes the pending items on the parent's bank and records those
   * that paid a fee in one TransactionEntry, ticks, freezes the bank with the
   * last tick's hash and ends the slot with the BankHash; then publishes it.
   */
  async produceSlot(
    slot: number,
    parentSlot = this.newest,
    options: SyncSlotOptions = {},
  ): Promise<SlotRecord> {
    const parent = this.states.get(parentSlot);
    const parentBank = this.banks.get(parentSlot);
    if (parent === undefined || parentBank === undefined)
      throw new Error(`no state for parent slot ${parentSlot}`);
    const leaderIdentity = this.context.leaders.leaderOf(slot);
    const leader = this.validators.find((k) => bytesEqual(k.publicKey, leaderIdentity))!;
    const builder = new SlotBuilder(this.context, parent, slot, leader.publicKey);
    const bank = parentBank.newChild(slot);
    const entries: ledger.SlotEntry[] = [];
    const votes = [...this.pendingVotes.values()].filter((v) => v.slot < slot && v.slot >= parentSlot - 64);
    for (const key of this.pendingVotes.keys()) {
      if ((this.pendingVotes.get(key)?.slot ?? 0) < slot) this.pendingVotes.delete(key);
    }
    const items = this.pendingItems.splice(0);
    const executions = bank.executeItems(items);
    const charged = items.filter((_, i) => executions[i]!.charged);
    this.slotResults.set(
      slot,
      executions.flatMap((e) => e.results),
    );
    const skippedTicks = (slot - parentSlot - 1) * this.genesis.timing.ticksPerSlot;
    for (let i = 0; i < skippedTicks; i++) entries.push(this.tick(builder));
    if (votes.length > 0) {
      const recorded = builder.recordVotes(votes.map((v) => v.signed));
      if (recorded.ok) entries.push(recorded.entry);
    }
    if (charged.length > 0) entries.push(builder.recordTransactions(charged));
    while (!builder.complete) entries.push(this.tick(builder));
    const lastHash = entries.at(-1)!.entry!.hash;
    const bankHash = bank.freeze(lastHash);
    const { end, record } = builder.end(options.wrongBankHash ? perturbedBankHash(bankHash) : bankHash);
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
    this.banks.set(slot, bank);
    this.newest = Math.max(this.newest, slot);
    return record;
  }

  /**
   * Produces the slots after the newest one, each published once its wall-clock
   * time has ended, until the signal aborts (late slots are produced at once).
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

  private tick(builder: SlotBuilder): ledger.SlotEntry {
    builder.hash(builder.hashesUntilTick);
    return builder.tick();
  }
}
