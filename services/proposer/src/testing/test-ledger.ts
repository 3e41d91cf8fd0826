import type { Bus, Replay } from "@simd23/bus";
import {
  type ChainState,
  createLedgerContext,
  EnvelopeKind,
  type Genesis,
  genesisChainState,
  itemTransactions,
  type Keypair,
  type LedgerContext,
  openEnvelope,
  RecordingBook,
  recordingTickHeight,
  SlotBuilder,
  type SlotRecord,
  slotAt,
  slotStartMs,
  tickDurationMs,
  toHex,
  type WellFormedUserBlock,
} from "@simd23/core";
import { envelope, ledger } from "@simd23/proto";
import { leaderKeypair, SignedPublisher, subjects } from "@simd23/runtime";

export interface TestLedgerOptions {
  readonly bus: Bus;
  readonly genesis: Genesis;
  readonly clusterSeed: Uint8Array;
  /** Slots the ledger skips (no leader produces them). */
  readonly skipSlot?: (slot: number) => boolean;
  /** UserBlocks the ledger does not record although they are well-formed (as if they came late). */
  readonly ignoreBlock?: (block: WellFormedUserBlock) => boolean;
}

/** A UserBlockEntry the test ledger recorded. */
export interface RecordedEntry {
  readonly slot: number;
  readonly userBlockSlot: number;
  readonly proposer: string;
  readonly blockHash: string;
  readonly block: WellFormedUserBlock;
}

/**
 * A ledger for tests, produced with the core's SlotBuilder and RecordingBook:
 * at the end of every slot on the wall clock it builds the slot for its
 * scheduled leader (every leader key derives from the cluster seed), recording
 * the membership requests and the well-formed UserBlocks that arrived in time,
 * and publishes it to LEDGER. It stands in for the leader service where a test
 * needs a ledger without one; it is not a leader (one producer, no forks).
 */
export class TestLedger {
  private readonly context: LedgerContext;
  private readonly leaders = new Map<string, Keypair>();
  private readonly book: RecordingBook;
  private readonly memberships: { body: Uint8Array; signature: Uint8Array }[] = [];
  private readonly replays: Replay[] = [];
  private readonly running: Promise<void>[] = [];
  private tip: ChainState;
  private timer: NodeJS.Timeout | undefined;
  private producing: Promise<void> = Promise.resolve();
  private stopped = false;
  readonly records: SlotRecord[] = [];
  readonly recorded: RecordedEntry[] = [];
  /** Every UserBlock that arrived, well-formed or not, by hex hash. */
  readonly arrived = new Map<string, { readonly bytes: Uint8Array; readonly userBlockSlot: number }>();

  constructor(private readonly options: TestLedgerOptions) {
    this.context = createLedgerContext(options.genesis);
    this.tip = genesisChainState(this.context);
    this.book = new RecordingBook(options.genesis);
    options.genesis.validators.forEach((validator, i) => {
      if (validator.runsLeader)
        this.leaders.set(toHex(validator.identity), leaderKeypair(options.genesis, options.clusterSeed, i));
    });
  }

  get tipSlot(): number {
    return this.tip.slot;
  }

  get tipSchedule() {
    return this.tip.schedule;
  }

  get tipBlockhash(): Uint8Array {
    return this.tip.lastHash;
  }

  /** The hex id of every transaction in a UserBlock this ledger recorded, with the slot that recorded it. */
  recordedTransactions(): Map<string, number> {
    const out = new Map<string, number>();
    for (const entry of this.recorded)
      for (const item of entry.block.items)
        for (const transaction of itemTransactions(item.valid)) out.set(toHex(transaction.id), entry.slot);
    return out;
  }

  start(): void {
    const { bus, genesis } = this.options;
    this.follow(
      bus.replay({ stream: "USERBLOCKS", filterSubjects: [subjects.allUserBlocks], start: "all" }),
      (data) => {
        const opened = openEnvelope(genesis, data, EnvelopeKind.KIND_USER_BLOCK);
        if (!opened.ok) return;
        const offered = this.book.offer(opened.envelope.body, this.tickHeightNow(), this.tip.schedule);
        if (offered.status === "accepted") {
          this.arrived.set(toHex(offered.block.blockHash), {
            bytes: opened.envelope.body,
            userBlockSlot: offered.block.userBlockSlot,
          });
        }
      },
    );
    this.follow(
      bus.replay({ stream: "CONTROL", filterSubjects: [subjects.membership], start: "all" }),
      (data) => {
        const opened = openEnvelope(genesis, data, EnvelopeKind.KIND_MEMBERSHIP_REQUEST);
        if (!opened.ok) return;
        this.memberships.push({
          body: opened.envelope.body,
          signature: envelope.Signed.decode(data).signature,
        });
      },
    );
    this.produceAtEnd(slotAt(genesis.timing, Date.now()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const replay of this.replays) replay.stop();
    await Promise.allSettled(this.running);
    await this.producing;
  }

  private follow(replay: Replay, handle: (data: Uint8Array) => void): void {
    this.replays.push(replay);
    this.running.push(
      (async () => {
        for await (const message of replay) handle(message.data);
      })(),
    );
  }

  private tickHeightNow(): number {
    const { timing } = this.options.genesis;
    return Math.floor((Date.now() - Number(timing.startTimeMs)) / tickDurationMs(timing));
  }

  /** Produces slot `slot` when it ends on the wall clock, then the next one. */
  private produceAtEnd(slot: number): void {
    if (this.stopped) return;
    const endMs = slotStartMs(this.options.genesis.timing, slot + 1);
    this.timer = setTimeout(
      () => {
        this.producing = this.producing.then(() => this.produce(slot)).catch(() => undefined);
        this.produceAtEnd(slot + 1);
      },
      Math.max(0, endMs - Date.now()),
    );
  }

  private async produce(slot: number): Promise<void> {
    if (this.stopped || slot <= this.tip.slot || this.options.skipSlot?.(slot)) return;
    const { genesis } = this.options;
    const leader = this.leaders.get(toHex(this.context.leaders.leaderOf(slot)));
    if (leader === undefined) return;
    const builder = new SlotBuilder(this.context, this.tip, slot, leader.publicKey);
    const entries: ledger.SlotEntry[] = [];
    const record = (make: () => ledger.SlotEntry | undefined) => {
      while (!builder.canRecord) entries.push(builder.tick());
      const entry = make();
      if (entry !== undefined) entries.push(entry);
    };
    for (const request of this.memberships.splice(0)) {
      record(() => {
        const recorded = builder.recordMembership(request.body, request.signature);
        return recorded.ok ? recorded.entry : undefined;
      });
    }
    const taken = this.book.take(slot, (slot + 1) * genesis.timing.ticksPerSlot, builder.schedule);
    for (const due of taken.recordable) {
      while (builder.tickHeight < recordingTickHeight(genesis.timing, due.userBlockSlot))
        entries.push(builder.tick());
      for (const block of due.blocks) {
        if (this.options.ignoreBlock?.(block)) continue;
        record(() =>
          builder.recordUserBlock({
            blockHash: block.blockHash,
            proposer: block.proposer,
            userBlockSlot: due.userBlockSlot,
          }),
        );
        this.recorded.push({
          slot,
          userBlockSlot: due.userBlockSlot,
          proposer: toHex(block.proposer),
          blockHash: toHex(block.blockHash),
          block,
        });
      }
    }
    while (!builder.complete) entries.push(builder.tick());
    const { end, record: slotRecord } = builder.end();
    const publisher = new SignedPublisher(this.options.bus, leader);
    const subject = subjects.ledgerSlot(slot);
    const messages: ledger.LedgerMessage[] = [
      { kind: { $case: "start", value: builder.start } },
      ...entries.map((entry) => ({ kind: { $case: "entry" as const, value: entry } })),
      { kind: { $case: "end", value: end } },
    ];
    await Promise.all(
      messages.map((message, i) =>
        publisher.publish(EnvelopeKind.KIND_LEDGER, subject, ledger.LedgerMessage.encode(message).finish(), {
          msgId: `${slot}.${i}`,
        }),
      ),
    );
    this.tip = slotRecord.next;
    this.records.push(slotRecord);
  }
}
