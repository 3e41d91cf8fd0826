import { HealthImplementation } from "grpc-health-check";
import {
  type Dependency,
  type DependencyStatus,
  HEALTH_LIVENESS,
  HEALTH_READINESS,
  type HealthControl,
  NOT_SERVING_DEPENDENCY_DOWN,
  NOT_SERVING_HALTED,
  NOT_SERVING_SHUTTING_DOWN,
  NOT_SERVING_STARTING,
} from "../health.js";
import type { Logger } from "../logger.js";
import type { StandardMetrics } from "./standard-metrics.js";

const ROLE_REASON = /^[a-z][a-z0-9_]{0,62}$/;
const KIT_REASONS = new Set([NOT_SERVING_STARTING, NOT_SERVING_DEPENDENCY_DOWN, NOT_SERVING_SHUTTING_DOWN]);

/**
 * Readiness is the conjunction of: start-up is over and the role marked itself ready, every
 * dependency is ready, no role reason holds, no shutdown began. Every change is logged once, mirrored in the metrics and
 * pushed to the health service (Check and Watch).
 */
export class HealthState implements HealthControl {
  readonly implementation = new HealthImplementation({
    "": "NOT_SERVING",
    [HEALTH_READINESS]: "NOT_SERVING",
    [HEALTH_LIVENESS]: "SERVING",
  });
  private readonly readinessNames = new Set(["", HEALTH_READINESS]);
  private readonly dependencies = new Map<string, Dependency>();
  private readonly roleReasons = new Map<string, string>();
  private roleReady = false;
  private started = false;
  private shuttingDown = false;
  private current = false;
  private currentReasons: readonly string[] = [NOT_SERVING_STARTING];

  constructor(
    private readonly logger: Logger,
    private readonly metrics: StandardMetrics,
  ) {
    this.metrics.up.set(0);
    this.metrics.halted.set(0);
    // The kit's own reasons and a halt are series at 0 from the start, so alerts see them go to 1.
    for (const reason of [...KIT_REASONS, NOT_SERVING_HALTED]) this.metrics.notServing.set({ reason }, 0);
    this.publishReasons([], this.currentReasons);
  }

  get serving(): boolean {
    return this.current;
  }

  get notServingReasons(): readonly string[] {
    return this.currentReasons;
  }

  markReady(): void {
    if (this.roleReady) return;
    this.roleReady = true;
    this.logger.info("role is ready");
    this.evaluate();
  }

  setNotServing(reason: string, detail?: string): void {
    if (!ROLE_REASON.test(reason) || KIT_REASONS.has(reason)) {
      throw new TypeError(
        `NOT_SERVING reason ${JSON.stringify(reason)}: use lower snake case, not one of ${[...KIT_REASONS].join(", ")}`,
      );
    }
    this.roleReasons.set(reason, detail ?? "");
    this.logger.warn({ reason, detail }, "role set NOT_SERVING");
    if (reason === NOT_SERVING_HALTED) this.metrics.halted.set(1);
    this.evaluate();
  }

  clearNotServing(reason: string): void {
    if (!this.roleReasons.delete(reason)) return;
    this.logger.info({ reason }, "role cleared NOT_SERVING reason");
    if (reason === NOT_SERVING_HALTED) this.metrics.halted.set(0);
    this.evaluate();
  }

  halt(detail: string): void {
    this.setNotServing(NOT_SERVING_HALTED, detail);
  }

  /** Role services answer health checks under their own names too, following readiness. */
  addReadinessName(serviceName: string): void {
    this.readinessNames.add(serviceName);
    this.implementation.setStatus(serviceName, this.current ? "SERVING" : "NOT_SERVING");
  }

  /** Follows a dependency's status events; returns the function that stops following it. */
  watch(name: string, dependency: Dependency): () => void {
    this.dependencies.set(name, dependency);
    const listener = (status: DependencyStatus): void => {
      const log = dependency.ready ? this.logger.info : this.logger.warn;
      log.call(
        this.logger,
        { dependency: name, status, ready: dependency.ready },
        "dependency status changed",
      );
      this.evaluate();
    };
    const unsubscribe =
      "onStatus" in dependency ? dependency.onStatus(listener) : dependency.onStatusChange(listener);
    this.evaluate();
    return unsubscribe;
  }

  /** Start-up is over (services registered, dependencies watched): readiness may turn SERVING. */
  markStarted(): void {
    this.started = true;
    this.evaluate();
  }

  /** First step of shutdown: readiness goes NOT_SERVING for good. */
  beginShutdown(): void {
    this.shuttingDown = true;
    this.evaluate();
  }

  private evaluate(): void {
    const reasons: string[] = [];
    if (this.shuttingDown) reasons.push(NOT_SERVING_SHUTTING_DOWN);
    if (!this.roleReady || !this.started) reasons.push(NOT_SERVING_STARTING);
    const down: string[] = [];
    for (const [name, dependency] of this.dependencies) {
      this.metrics.dependencyUp.set({ dependency: name }, dependency.ready ? 1 : 0);
      if (!dependency.ready) down.push(name);
    }
    if (down.length > 0) reasons.push(NOT_SERVING_DEPENDENCY_DOWN);
    reasons.push(...this.roleReasons.keys());

    const serving = reasons.length === 0;
    const previousReasons = this.currentReasons;
    const changed = serving !== this.current || reasons.join() !== previousReasons.join();
    this.current = serving;
    this.currentReasons = reasons;
    if (!changed) return;

    this.publishReasons(previousReasons, reasons);
    this.metrics.up.set(serving ? 1 : 0);
    const status = serving ? "SERVING" : "NOT_SERVING";
    for (const name of this.readinessNames) this.implementation.setStatus(name, status);
    if (serving) {
      this.logger.info("readiness SERVING");
      return;
    }
    const fields = {
      reasons,
      ...(down.length > 0 ? { dependenciesDown: down } : {}),
      ...(this.roleReasons.size > 0 ? { details: Object.fromEntries(this.roleReasons) } : {}),
    };
    // Starting and stopping are expected; anything else is worth a warning.
    const expected = reasons.every(
      (reason) => reason === NOT_SERVING_STARTING || reason === NOT_SERVING_SHUTTING_DOWN,
    );
    if (expected) this.logger.info(fields, "readiness NOT_SERVING");
    else this.logger.warn(fields, "readiness NOT_SERVING");
  }

  private publishReasons(previous: readonly string[], next: readonly string[]): void {
    for (const reason of previous) if (!next.includes(reason)) this.metrics.notServing.set({ reason }, 0);
    for (const reason of next) this.metrics.notServing.set({ reason }, 1);
  }
}
