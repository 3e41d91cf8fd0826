import { setImmediate as yieldToOthers } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import type { MembershipKey, ValueKey } from "./keys.js";
import {
  type ContractHarness,
  contractCheck,
  memorySubject,
  redisSubject,
  runCheck,
  type StoreSubject,
} from "./private/contract.js";
import type { JoinOptions, Member, Store, UpdateOptions, WriteOptions } from "./store.js";

// A contract that cannot fail proves nothing. Each fault below is one a plausible adapter
// could have; wrapping a real adapter with it must make the check about it fail, on both adapters.

/** Per-harness state a fault may keep across the stores the check opens. */
type FaultState = Map<string, Map<string, Member<unknown>>>;
type Fault = (store: Store, state: FaultState) => Partial<Store>;

function withFault(subject: StoreSubject, fault: Fault): StoreSubject {
  return {
    name: `${subject.name} with a fault`,
    async start() {
      const harness = await subject.start();
      const state: FaultState = new Map();
      const faulty: ContractHarness = {
        ttlUnitMs: harness.ttlUnitMs,
        elapse: (ms) => harness.elapse(ms),
        dispose: () => harness.dispose(),
        async open(suffix) {
          const store = await harness.open(suffix);
          // The prototype keeps the intact store's status getters and every operation not overridden.
          return Object.assign(Object.create(store) as Store, fault(store, state));
        },
      };
      return faulty;
    },
  };
}

const faults: ReadonlyArray<{ fault: string; check: string; apply: Fault }> = [
  {
    fault: "update as a plain read then write",
    check: "update: concurrent updaters on one key never lose an increment",
    apply: (store) => ({
      async update<T>(
        key: ValueKey<T>,
        fn: (current: T | undefined) => T,
        options?: UpdateOptions,
      ): Promise<T> {
        const next = fn(await store.get(key));
        await yieldToOthers();
        await store.set(key, next, options);
        return next;
      },
    }),
  },
  {
    fault: "a member list that ignores expiry",
    check: "membership: members disappear after their TTL",
    apply: (store, state) => ({
      async join<T>(key: MembershipKey<T>, id: string, data: T, options: JoinOptions): Promise<boolean> {
        const joined = await store.join(key, id, data, options);
        if (joined) {
          const members = state.get(key.name) ?? new Map<string, Member<unknown>>();
          members.set(id, { id, data, expiresAtMs: Number.POSITIVE_INFINITY });
          state.set(key.name, members);
        }
        return joined;
      },
      async members<T>(key: MembershipKey<T>): Promise<Array<Member<T>>> {
        const live = await store.members(key);
        const remembered = [...(state.get(key.name)?.values() ?? [])] as Array<Member<T>>;
        const ids = new Set(live.map((member) => member.id));
        return [...live, ...remembered.filter((member) => !ids.has(member.id))].sort((a, b) =>
          a.id < b.id ? -1 : 1,
        );
      },
    }),
  },
  {
    fault: "set-if-absent as a read then a write",
    check: "setIfAbsent: writes only an absent key, and a race has exactly one winner",
    apply: (store) => ({
      async setIfAbsent<T>(key: ValueKey<T>, value: T, options?: WriteOptions): Promise<boolean> {
        if ((await store.get(key)) !== undefined) return false;
        await yieldToOthers();
        await store.set(key, value, options);
        return true;
      },
    }),
  },
  {
    fault: "an exclusive join that does not check the holder",
    check: "membership: racing exclusive claims of one id have exactly one winner",
    apply: (store) => ({
      join: <T>(key: MembershipKey<T>, id: string, data: T, options: JoinOptions) =>
        store.join(key, id, data, { ttlMs: options.ttlMs }),
    }),
  },
  {
    fault: "a set that drops its TTL",
    check: "TTLs: a value expires after its TTL",
    apply: (store) => ({
      set: <T>(key: ValueKey<T>, value: T) => store.set(key, value),
    }),
  },
];

for (const subject of [memorySubject(), redisSubject()]) {
  describe(`the contract catches faults in the ${subject.name} store`, () => {
    for (const { fault, check, apply } of faults) {
      it(`${fault} fails "${check}"`, async () => {
        const failure = await runCheck(withFault(subject, apply), contractCheck(check)).then(
          () => undefined,
          (error: unknown) => error,
        );
        // The check must fail on an assertion about the fault, not crash for another reason.
        expect(failure).toBeInstanceOf(Error);
        expect((failure as Error).name).toBe("AssertionError");
      });
    }
  });
}
