import { credentials } from "@grpc/grpc-js";
import type { Bus } from "@simd23/bus";
import {
  bytesEqual,
  checkUserBlock,
  EnvelopeKind,
  type Genesis,
  openEnvelope,
  toHex,
  type UserBlockRefusalReason,
  type WellFormedUserBlock,
} from "@simd23/core";
import { proposer, userblock } from "@simd23/proto";
import { callUnary } from "@simd23/service-kit";
import type { ProposerDirectory } from "./proposer-directory.js";
import { subjects } from "./subjects.js";

/** What a UserBlockEntry names. */
export interface UserBlockRef {
  readonly userBlockSlot: number;
  readonly proposer: Uint8Array;
  readonly blockHash: Uint8Array;
}

export type UserBlockSourceKind = "cache" | "stream" | "proposer";

export type UserBlockFetch =
  | { readonly ok: true; readonly block: WellFormedUserBlock; readonly source: UserBlockSourceKind }
  | { readonly ok: false; readonly reason: "MISSING" | UserBlockRefusalReason; readonly detail: string };

export interface UserBlockSourceOptions {
  readonly bus: Bus;
  readonly genesis: Genesis;
  readonly directory: ProposerDirectory;
  /** Blocks kept in memory for fetches (a block may be up to maxUserBlockBytes); the oldest go first. */
  readonly cacheLimit?: number;
  /** Fault injection: the stream's copies of these proposers' blocks are ignored, as if lost on the way. */
  readonly ignoreStreamFrom?: ReadonlySet<string>;
  readonly repairTimeoutMs?: number;
  /** Repair clients kept open, one per proposer address (the least recently used is closed past this). */
  readonly repairClientLimit?: number;
}

const DEFAULT_REPAIR_CLIENTS = 64;

/**
 * Finds the UserBlock a UserBlockEntry names: from memory, from the USERBLOCKS
 * stream by its hash subject, or — repair — from the proposer that built it over
 * gRPC. Every copy is checked before use: envelope, hash, well-formedness on the
 * chain's active proposer set.
 */
export class UserBlockSource {
  private readonly cache = new Map<string, WellFormedUserBlock>();
  private readonly cacheLimit: number;
  /** One gRPC client per proposer address, most recently used last: a repair reuses its connection. */
  private readonly clients = new Map<string, proposer.ProposerServiceClient>();

  constructor(private readonly options: UserBlockSourceOptions) {
    this.cacheLimit = options.cacheLimit ?? 256;
  }

  /** Closes the repair clients; a later repair opens them again. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  /** Keeps a block that arrived some other way (a live USERBLOCKS consumer). */
  remember(block: WellFormedUserBlock): void {
    const key = toHex(block.blockHash);
    if (this.cache.has(key)) return;
    this.cache.set(key, block);
    if (this.cache.size > this.cacheLimit) this.cache.delete(this.cache.keys().next().value!);
  }

  cached(blockHash: Uint8Array): WellFormedUserBlock | undefined {
    return this.cache.get(toHex(blockHash));
  }

  /** Opens a USERBLOCKS message: the envelope's signer must be the block's proposer. */
  openStreamCopy(
    data: Uint8Array,
    activeProposers: readonly Uint8Array[],
    expected: Partial<UserBlockRef> = {},
  ): UserBlockFetch {
    const opened = openEnvelope(this.options.genesis, data, EnvelopeKind.KIND_USER_BLOCK);
    if (!opened.ok) return { ok: false, reason: "MALFORMED", detail: opened.error.message };
    const check = checkUserBlock(this.options.genesis, opened.envelope.body, activeProposers, {
      ...(expected.userBlockSlot === undefined ? {} : { userBlockSlot: expected.userBlockSlot }),
      ...(expected.blockHash === undefined ? {} : { blockHash: expected.blockHash }),
    });
    if (!check.ok) return check;
    if (!bytesEqual(check.block.proposer, opened.envelope.signer)) {
      return {
        ok: false,
        reason: "BAD_SIGNATURE",
        detail: "the envelope is not signed by the block's proposer",
      };
    }
    return { ok: true, block: check.block, source: "stream" };
  }

  async fetch(ref: UserBlockRef, activeProposers: readonly Uint8Array[]): Promise<UserBlockFetch> {
    const cached = this.cached(ref.blockHash);
    if (cached) return { ok: true, block: cached, source: "cache" };
    if (!this.options.ignoreStreamFrom?.has(toHex(ref.proposer))) {
      const fetched = await this.fromStream(ref, activeProposers);
      if (fetched !== undefined) {
        this.remember(fetched.block);
        return fetched;
      }
    }
    return this.repair(ref, activeProposers);
  }

  /**
   * The proposer's copy under the block's subject: the newest message there, else the first that
   * opens. Anyone can file bytes under a subject; a forgery filed after the copy must not hide it.
   */
  private async fromStream(
    ref: UserBlockRef,
    activeProposers: readonly Uint8Array[],
  ): Promise<(UserBlockFetch & { ok: true }) | undefined> {
    const subject = subjects.userBlock(ref.userBlockSlot, ref.proposer, ref.blockHash);
    const newest = await this.options.bus.getLast("USERBLOCKS", subject);
    if (newest === undefined) return undefined;
    const opened = this.openStreamCopy(newest.data, activeProposers, ref);
    if (opened.ok) return opened;
    const filed = this.options.bus.replay({
      stream: "USERBLOCKS",
      filterSubjects: [subject],
      start: "all",
      stopAtEnd: true,
    });
    try {
      for await (const message of filed) {
        const copy = this.openStreamCopy(message.data, activeProposers, ref);
        if (copy.ok) return copy;
      }
    } finally {
      filed.stop();
    }
    return undefined;
  }

  /** Asks the proposer that built the block for it (GetUserBlock). */
  async repair(ref: UserBlockRef, activeProposers: readonly Uint8Array[]): Promise<UserBlockFetch> {
    const address = await this.options.directory.addressOf(ref.proposer);
    if (address === undefined)
      return { ok: false, reason: "MISSING", detail: "its proposer is not in the directory" };
    const client = this.clientFor(address);
    try {
      const response = await callUnary(
        client.getUserBlock.bind(client),
        { blockHash: ref.blockHash },
        { timeoutMs: this.options.repairTimeoutMs ?? 2_000 },
      );
      if (!response.userBlock) return { ok: false, reason: "MISSING", detail: `${address} does not have it` };
      const bytes = userblock.UserBlock.encode(response.userBlock).finish();
      const check = checkUserBlock(this.options.genesis, bytes, activeProposers, ref);
      if (!check.ok) return check;
      this.remember(check.block);
      return { ok: true, block: check.block, source: "proposer" };
    } catch (error) {
      return {
        ok: false,
        reason: "MISSING",
        detail: `repair from ${address} failed: ${(error as Error).message}`,
      };
    }
  }

  private clientFor(address: string): proposer.ProposerServiceClient {
    let client = this.clients.get(address);
    if (client !== undefined) {
      this.clients.delete(address);
    } else {
      client = new proposer.ProposerServiceClient(address, credentials.createInsecure());
      const limit = this.options.repairClientLimit ?? DEFAULT_REPAIR_CLIENTS;
      for (const [oldest, stale] of this.clients) {
        if (this.clients.size < limit) break;
        stale.close();
        this.clients.delete(oldest);
      }
    }
    this.clients.set(address, client);
    return client;
  }
}
