import type { voteaggregator } from "@simd23/proto";
import { ConfirmationTimeoutError, TransactionDroppedError } from "../errors.js";
import { hasReached, type ProgressLevelName, StatusTracker, type TransactionStatus } from "../status.js";

/** The part of a grpc-js server stream the waiter uses. */
export interface UpdateStream {
  on(event: "data", listener: (update: voteaggregator.SubscribeSignaturesResponse) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  cancel(): void;
}

export interface WaitSources {
  /** One GetSignatureStatuses for the signature (undefined when the answer omits it). */
  readonly poll: () => Promise<voteaggregator.SignatureStatus | undefined>;
  /** A SubscribeSignatures stream for the signature. */
  readonly subscribe: () => UpdateStream;
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly pollIntervalMs: number;
  /** Pause before a failed or ended stream is opened again. */
  readonly resubscribeDelayMs: number;
  /** Called with the status each time it changes (levels or result). */
  readonly onStatus?: (status: TransactionStatus) => void;
}

/**
 * Waits until the signature reaches `level`: the stream pushes levels as they are reached, and
 * a poll at the start and every `pollIntervalMs` catches what the stream cannot (levels reached
 * before it opened, updates lost while the aggregator restarted). Resolves with the status;
 * rejects with TransactionDroppedError when it is dropped, with the first poll's error when the
 * aggregator cannot be asked at all, and on timeout with ConfirmationTimeoutError (or the
 * connection error, when the aggregator stopped answering).
 */
export function waitForLevel(
  signature: string,
  level: ProgressLevelName,
  sources: WaitSources,
  options: WaitOptions,
): Promise<TransactionStatus> {
  return new Promise((resolve, reject) => {
    const tracker = new StatusTracker(signature);
    let settled = false;
    let stream: UpdateStream | undefined;
    let pollTimer: NodeJS.Timeout | undefined;
    let streamTimer: NodeJS.Timeout | undefined;
    let lastPollError: Error | undefined;
    let polled = false;
    let lastSeen = "";

    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(pollTimer);
      clearTimeout(streamTimer);
      stream?.cancel();
      settle();
    };

    const check = (): void => {
      const status = tracker.current;
      const seen = JSON.stringify([status.levels, status.result?.status]);
      if (seen !== lastSeen) {
        lastSeen = seen;
        options.onStatus?.(status);
      }
      if (status.droppedReason !== null)
        finish(() => reject(new TransactionDroppedError(signature, status.droppedReason!, status)));
      else if (hasReached(status, level)) finish(() => resolve(status));
    };

    const openStream = (): void => {
      if (settled) return;
      const current = sources.subscribe();
      stream = current;
      let reopening = false;
      const reopen = (): void => {
        if (settled || reopening) return;
        reopening = true;
        streamTimer = setTimeout(openStream, options.resubscribeDelayMs);
      };
      current.on("data", (update) => {
        tracker.applyUpdate(update);
        check();
      });
      current.on("error", reopen);
      current.on("end", reopen);
    };

    const poll = async (): Promise<void> => {
      try {
        const wire = await sources.poll();
        lastPollError = undefined;
        if (wire !== undefined) tracker.applyStatus(wire);
        check();
      } catch (error) {
        lastPollError = error as Error;
        // Nothing to wait for when the aggregator cannot be asked even once.
        if (!polled) finish(() => reject(error));
      }
      polled = true;
      if (!settled) pollTimer = setTimeout(poll, options.pollIntervalMs);
    };

    const timeoutTimer = setTimeout(
      () =>
        finish(() =>
          reject(
            lastPollError ??
              new ConfirmationTimeoutError(signature, level, options.timeoutMs, tracker.current),
          ),
        ),
      options.timeoutMs,
    );
    openStream();
    void poll();
  });
}
