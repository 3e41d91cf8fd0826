/**
 * Names under which `grpc.health.v1.Health` answers (Kubernetes: `grpc: { port, service }`).
 *
 * - `readiness` (and `""`, and the full name of every role service, e.g.
 *   `simd23.proposer.v1.ProposerService`): SERVING only while the role said it is ready, every
 *   dependency is ready, no NOT_SERVING reason holds and no shutdown has begun. Use it for the
 *   readiness probe: traffic stops while NATS or Redis is away, without a restart.
 * - `liveness`: SERVING for as long as the process answers. Use it for the liveness probe, so
 *   Kubernetes restarts only a process that stopped answering, never one waiting on a dependency.
 */
export const HEALTH_READINESS = "readiness";
export const HEALTH_LIVENESS = "liveness";

/** The statuses a dependency reports (`@simd23/bus` and `@simd23/store` use these words). */
export type DependencyStatus = "connecting" | "connected" | "disconnected" | "reconnecting" | "closed";

/** A status listener registration that returns the function removing it. */
type StatusSubscription =
  | { onStatus(listener: (status: DependencyStatus) => void): () => void }
  | { onStatusChange(listener: (status: DependencyStatus) => void): () => void };

/**
 * What the kit needs from a bus or store connection: a readiness flag, a way to follow its
 * status changes (`onStatus`, as `@simd23/bus` has, or `onStatusChange`, as `@simd23/store`
 * has), and a way to close it on shutdown. The kit re-reads `ready` on every change, so the
 * status passed to the listener is only logged.
 */
export type Dependency = {
  readonly ready: boolean;
  close(): Promise<void> | void;
} & StatusSubscription;

/** Reasons the kit itself holds readiness at NOT_SERVING (label values of `simd23_<role>_not_serving`). */
export const NOT_SERVING_STARTING = "starting";
export const NOT_SERVING_DEPENDENCY_DOWN = "dependency_down";
export const NOT_SERVING_SHUTTING_DOWN = "shutting_down";
/** The reason `halt()` sets. */
export const NOT_SERVING_HALTED = "halted";

/** The role's hand on its readiness. */
export interface HealthControl {
  /** The role has started (caught up, subscribed): SERVING as soon as nothing else holds it back. */
  markReady(): void;
  /**
   * Holds readiness at NOT_SERVING for a reason of the role's own (lower snake case, a bounded set:
   * it becomes a label value); `detail` is logged. Setting a reason again only logs the new detail.
   */
  setNotServing(reason: string, detail?: string): void;
  /** Lifts a reason set by `setNotServing` (or `halt`). */
  clearNotServing(reason: string): void;
  /** The cluster halted: NOT_SERVING with reason `halted`, and `simd23_<role>_halted` becomes 1. */
  halt(detail: string): void;
  /** True while readiness is SERVING. */
  readonly serving: boolean;
  /** Everything holding readiness at NOT_SERVING now; empty while SERVING. */
  readonly notServingReasons: readonly string[];
}
