import type { Bus, Replay } from "@simd23/bus";
import {
  EnvelopeKind,
  type Genesis,
  itemTransactions,
  openEnvelope,
  type ProposerSchedule,
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
import { envelope, type ledger } from "@simd23/proto";
import { subjects } from "../subjects.js";
import { LedgerStandIn } from "./stand-in.js";

export interface LiveTestLedgerOptions {
  readonly bus: Bus;
  readonly genesis: Genesis;
  readonly clusterSeed: Uint8Array;
  /** Slots the ledger skips (no leader produces them). */
  readonly skipSlot?: (slot: number) => boolean;
  /** UserBlocks the ledger does not record although they are well-formed (as if they came late). */
  readonly ignoreBlock?: (block: WellFormedUserBlock) => boolean;
  /**
   * Each slot reaches LEDGER this long after it is built, while `tipBlockhash` is already its
   * hash: what a consumer whose view of the ledger lags sees, against a client that got its
   * blockhash from a replica ahead of it.
   */
  readonly publishDelayMs?: number;
  /**
   * Every validator votes for each slot the ledger builds, and the next slot records those votes,
   * as a cluster whose validators all keep up does (default true): what proposers settle their
   * blocks by. False leaves the ledger without votes.
   */
  readonly validatorsVote?: boolean;
}

/** A UserBlockEntry the ledger recorded. */
export interface RecordedEntry {
  readonly slot: number;
  readonly userBlockSlot: number;
  readonly proposer: string;
  readonly blockHash: string;
  readonly block: WellFormedUserBlock;
}

/**
 * A ledger for tests of the roles that produce for it (proposers), built with
 * the core's SlotBuilder and RecordingBook: at the end of every slot on the
 * wall clock it builds the slot for its scheduled leader, recording every
 * validator's vote for the slot before, the membership requests on CONTROL
 * and the well-formed UserBlocks that arrived on USERBLOCKS in time, and
 * publishes it on LEDGER. It stands in for the
 * leader service where a test needs a ledger without one; it is not a leader
 * (one producer, no forks).
 */
export class LiveTestLedger extends LedgerStandIn {
  private readonly book: RecordingBook;
  private readonly memberships: { body: Uint8Array; signature: Uint8Array }[] = [];
  private readonly replays: Replay[] = [];
  private readonly running: Promise<void>[] = [];
  private readonly publishing = new Set<Promise<void>>();
  private tip = 0;
  private timer: NodeJS.Timeout | undefined;
  private producing: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Every UserBlockEntry recorded, in ledger order. */
  readonly recorded: RecordedEntry[] = [];
  /** Every UserBlock the book accepted, by hex hash. */
  readonly arrived = new Map<string, { readonly bytes: Uint8Array; readonly userBlockSlot: number }>();

  constructor(private readonly options: LiveTestLedgerOptions) {
    super(options.bus, options.genesis, options.clusterSeed);
    this.book = new RecordingBook(options.genesis);
  }

  get tipSlot(): number {
    return this.tip;
  }

  get tipSchedule(): ProposerSchedule {
    return this.parentState(this.tip).schedule;
  }

  get tipBlockhash(): Uint8Array {
    return this.parentState(this.tip).lastHash;
  }

  /** The hex id of every transaction in a UserBlock this ledger recorded, with the slot that recorded it. */
  recordedTransactions(): Map<string, number> {
    const out = new Map<string, number>();
    for (const entry of this.recorded)
      for (const item of entry.block.items)
        for (const transaction of itemTransactions(item.valid)) out.set(toHex(transaction.id), entry.slot);
    return out;
  }

  /** Follows USERBLOCKS and CONTROL, and produces each slot at its end on the wall clock. */
  start(): void {
    const { bus, genesis } = this.options;
    this.follow(
      bus.replay({ stream: "USERBLOCKS", filterSubjects: [subjects.allUserBlocks], start: "all" }),
      (data) => {
        const opened = openEnvelope(genesis, data, EnvelopeKind.KIND_USER_BLOCK);
        if (!opened.ok) return;
        const offered = this.book.offer(opened.envelope.body, this.tickHeightNow(), this.tipSchedule);
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

  override async stop(): Promise<void> {
    super.stop();
    this.stopped = true;
    clearTimeout(this.timer);
    for (const replay of this.replays) replay.stop();
    await Promise.allSettled(this.running);
    await this.producing;
    await Promise.allSettled(this.publishing);
  }

  /**
   * Builds slot `slot` on the tip, recording the membership requests and the
   * UserBlocks due, and publishes it (after `publishDelayMs`). A skipped slot,
   * or one not after the tip, is not built.
   */
  async produceSlot(slot: number): Promise<SlotRecord> {
    const { genesis } = this.options;
    const leader = this.leaderOf(slot);
    const builder = new SlotBuilder(this.context, this.parentState(this.tip), slot, leader.publicKey);
    const entries: ledger.SlotEntry[] = [];
    const record = (make: () => ledger.SlotEntry | undefined) => {
      while (!builder.canRecord) entries.push(builder.tick());
      const entry = make();
      if (entry !== undefined) entries.push(entry);
    };
    if (this.options.validatorsVote !== false && this.tip > 0) {
      const votes = this.genesis.validators.map((_, index) => this.signedVote(index, this.tip));
      record(() => {
        const recorded = builder.recordVotes(votes);
        return recorded.ok ? recorded.entry : undefined;
      });
    }
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
    this.accept(slotRecord);
    this.tip = slot;
    const delayMs = this.options.publishDelayMs ?? 0;
    const published = (
      delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, delayMs)) : Promise.resolve()
    ).then(() => this.publishSlot(builder, entries, end, leader, true));
    this.publishing.add(published);
    void published.finally(() => this.publishing.delete(published));
    if (delayMs === 0) await published;
    return slotRecord;
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
        this.producing = this.producing
          .then(() => {
            if (this.stopped || slot <= this.tip || this.options.skipSlot?.(slot)) return;
            return this.produceSlot(slot);
          })
          .catch(() => undefined);
        this.produceAtEnd(slot + 1);
      },
      Math.max(0, endMs - Date.now()),
    );
  }
}
