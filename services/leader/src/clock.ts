import { performance } from "node:perf_hooks";
import { setImmediate } from "node:timers/promises";

/** The leader's only source of time. */
export interface Clock {
  /** Milliseconds since the Unix epoch, with sub-millisecond precision. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** How far the monotonic estimate may wander from the wall clock before it is re-anchored. */
const REANCHOR_MS = 2;

/**
 * The wall clock (the genesis schedule is in Unix milliseconds) with the
 * monotonic clock's sub-millisecond resolution, so tick drift is measured finer
 * than Date.now()'s whole milliseconds; re-anchored whenever the two disagree by
 * more than 2 ms, so it follows the wall clock when NTP steps it.
 */
export function systemClock(): Clock {
  let anchorWall = Date.now();
  let anchorMonotonic = performance.now();
  return {
    now() {
      const monotonic = performance.now();
      const wall = Date.now();
      const estimate = anchorWall + (monotonic - anchorMonotonic);
      if (Math.abs(estimate - wall) <= REANCHOR_MS) return estimate;
      anchorWall = wall;
      anchorMonotonic = monotonic;
      return wall;
    },
    sleep(ms, signal) {
      return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        signal?.addEventListener("abort", done, { once: true });
      });
    },
  };
}

/** Lets the event loop run I/O that has arrived (network input) before going on. */
export function yieldToEventLoop(): Promise<void> {
  return setImmediate();
}

/**
 * Sleeps until the clock reads at least `atMs` (timers may fire a little early),
 * or `signal` aborts. When the time has already come it still yields once, so a
 * caller that is behind (catching up after a stall) takes in what arrived
 * meanwhile before it goes on.
 */
export async function sleepUntil(clock: Clock, atMs: number, signal?: AbortSignal): Promise<void> {
  let slept = false;
  for (
    let remaining = atMs - clock.now();
    remaining > 0 && !signal?.aborted;
    remaining = atMs - clock.now()
  ) {
    await clock.sleep(Math.ceil(remaining), signal);
    slept = true;
  }
  if (!slept) await yieldToEventLoop();
}
