import type { StoreStatus } from "../store.js";

/** The current status and its listeners; a listener hears each change once. */
export class StatusCell {
  #status: StoreStatus;
  readonly #listeners = new Set<(status: StoreStatus) => void>();

  constructor(initial: StoreStatus) {
    this.#status = initial;
  }

  get status(): StoreStatus {
    return this.#status;
  }

  set(next: StoreStatus): void {
    if (next === this.#status || this.#status === "closed") return;
    this.#status = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(next);
      } catch (error) {
        // A faulty listener must not break the connection handling that called it; its error
        // still surfaces, as an uncaught exception on the next tick.
        process.nextTick(() => {
          throw error;
        });
      }
    }
  }

  listen(listener: (status: StoreStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
