import type { Simd23Client } from "../../packages/client/src/client.js";
import {
  LEVEL_NAMES,
  type LevelName,
  type SignatureUpdate,
  type TransactionStatus,
} from "../../packages/client/src/status.js";

// Confirmation levels never go backwards. The monitor watches every acknowledged transaction two
// ways, as clients do: a SubscribeSignatures stream of every signature (reopened when it breaks)
// and GetSignatureStatuses polls. A level once reported — by either — must be in every later
// poll with the same time, a result once reported never changes, and no transaction is both
// executed and dropped.

export type ViolationKind =
  /** A level reported earlier is missing from a later poll. */
  | "level-lost"
  /** A level reported earlier comes back with another time. */
  | "retimed"
  /** An execution result reported earlier is missing or different later. */
  | "result-changed"
  /** Executed and dropped: two terminal statuses. */
  | "two-terminal-statuses";

export interface LevelViolation {
  readonly signature: string;
  readonly kind: ViolationKind;
  readonly source: "poll" | "subscription";
  readonly detail: string;
}

interface Known {
  /** Every level reported so far, with its time and when the test learnt it. */
  readonly levels: Map<LevelName, { readonly timeMs: number; readonly learntAtMs: number }>;
  result: { readonly status: string; readonly slot: number; readonly learntAtMs: number } | undefined;
}

const POLL_BATCH = 256;

export class LevelMonitor {
  readonly violations: LevelViolation[] = [];
  /** The newest poll of each signature. */
  readonly latest = new Map<string, TransactionStatus>();
  private readonly known = new Map<string, Known>();
  private following = false;
  private subscription: ReturnType<Simd23Client["subscribeSignatures"]> | undefined;
  private followed: Promise<void> = Promise.resolve();
  /** Subscription updates received (of tracked signatures). */
  updates = 0;
  /** Polls answered, and polls that failed (an aggregator restarting). */
  polls = 0;
  failedPolls = 0;

  constructor(
    private readonly client: Simd23Client,
    /** Whether a signature is one of the test's acknowledged transactions. */
    private readonly tracked: (signature: string) => boolean,
  ) {}

  /** Opens the stream of every signature's levels, reopening it whenever it fails. */
  start(): void {
    this.following = true;
    this.followed = (async () => {
      while (this.following) {
        this.subscription = this.client.subscribeSignatures();
        try {
          for await (const update of this.subscription) this.onUpdate(update);
        } catch {
          // The aggregator went away: polls cover the gap, and the stream is opened again.
        }
        if (this.following) await new Promise((resolve) => setTimeout(resolve, 500));
      }
    })();
  }

  async stop(): Promise<void> {
    this.following = false;
    this.subscription?.close();
    await this.followed;
  }

  /** Polls the given signatures once (in batches); a batch that fails is left for the next poll. */
  async poll(signatures: readonly string[]): Promise<void> {
    for (let i = 0; i < signatures.length; i += POLL_BATCH) {
      const batch = signatures.slice(i, i + POLL_BATCH);
      const askedAtMs = Date.now();
      let statuses: TransactionStatus[];
      try {
        statuses = await this.client.getSignatureStatuses(batch);
      } catch {
        this.failedPolls++;
        continue;
      }
      this.polls++;
      for (const status of statuses) this.onPoll(status, askedAtMs);
    }
  }

  private knownOf(signature: string): Known {
    let known = this.known.get(signature);
    if (known === undefined) {
      known = { levels: new Map(), result: undefined };
      this.known.set(signature, known);
    }
    return known;
  }

  private violation(
    signature: string,
    kind: ViolationKind,
    source: "poll" | "subscription",
    detail: string,
  ): void {
    this.violations.push({ signature, kind, source, detail });
  }

  private onUpdate(update: SignatureUpdate): void {
    if (!this.tracked(update.signature)) return;
    this.updates++;
    const known = this.knownOf(update.signature);
    const now = Date.now();
    const before = known.levels.get(update.level);
    if (before === undefined) known.levels.set(update.level, { timeMs: update.timeMs, learntAtMs: now });
    else if (before.timeMs !== update.timeMs)
      this.violation(
        update.signature,
        "retimed",
        "subscription",
        `${update.level} at ${before.timeMs}, now at ${update.timeMs}`,
      );
    if (update.result !== null) this.learnResult(update.signature, known, update.result, "subscription", now);
    this.checkTerminal(update.signature, known, "subscription");
  }

  private onPoll(status: TransactionStatus, askedAtMs: number): void {
    if (!this.tracked(status.signature)) return;
    this.latest.set(status.signature, status);
    const known = this.knownOf(status.signature);
    const now = Date.now();
    for (const [level, seen] of known.levels) {
      // Only what the test had learnt before it asked must be in the answer.
      if (seen.learntAtMs > askedAtMs) continue;
      const time = status.levels[level];
      if (time === undefined)
        this.violation(
          status.signature,
          "level-lost",
          "poll",
          `${level} (reported at ${seen.timeMs}) is gone`,
        );
      else if (time !== seen.timeMs)
        this.violation(status.signature, "retimed", "poll", `${level} at ${seen.timeMs}, now at ${time}`);
    }
    if (known.result !== undefined && known.result.learntAtMs <= askedAtMs && status.result === null)
      this.violation(status.signature, "result-changed", "poll", `result ${known.result.status} is gone`);
    for (const level of LEVEL_NAMES) {
      const time = status.levels[level];
      if (time !== undefined && !known.levels.has(level))
        known.levels.set(level, { timeMs: time, learntAtMs: now });
    }
    if (status.result !== null) this.learnResult(status.signature, known, status.result, "poll", now);
    this.checkTerminal(status.signature, known, "poll");
  }

  private learnResult(
    signature: string,
    known: Known,
    result: { readonly status: string; readonly slot: number },
    source: "poll" | "subscription",
    now: number,
  ): void {
    if (known.result === undefined) {
      known.result = { status: result.status, slot: result.slot, learntAtMs: now };
      return;
    }
    if (known.result.status !== result.status || known.result.slot !== result.slot)
      this.violation(
        signature,
        "result-changed",
        source,
        `${known.result.status} in slot ${known.result.slot}, now ${result.status} in slot ${result.slot}`,
      );
  }

  private checkTerminal(signature: string, known: Known, source: "poll" | "subscription"): void {
    if (known.levels.has("dropped") && (known.levels.has("executed") || known.result !== undefined)) {
      if (!this.violations.some((v) => v.signature === signature && v.kind === "two-terminal-statuses"))
        this.violation(signature, "two-terminal-statuses", source, "both executed and dropped");
    }
  }
}
