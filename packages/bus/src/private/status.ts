import type { BusStatus } from "../types.js";

/** The bus status with change listeners; a listener that throws cannot break the bus. */
export class StatusTracker {
  #status: BusStatus;
  readonly #listeners = new Set<(status: BusStatus) => void>();
  #waiters: Array<() => void> = [];

  constructor(initial: BusStatus) {
    this.#status = initial;
  }

  get status(): BusStatus {
    return this.#status;
  }

  set(status: BusStatus): void {
    if (status === this.#status || this.#status === "closed") return;
    this.#status = status;
    if (status === "connected" || status === "closed") {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(status);
      } catch {
        // A listener's failure is the listener's to report; the bus carries on.
      }
    }
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves when the status is (or becomes) `connected` or `closed`. */
  settled(): Promise<void> {
    if (this.#status === "connected" || this.#status === "closed") return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
