import { describe, expect, it } from "vitest";
import { bytesCodec, stringCodec } from "./codec.js";
import { isStoreError } from "./errors.js";
import { counterKey, recordKey, valueKey } from "./keys.js";
import { createMemoryDatabase, createMemoryStore } from "./memory.js";
import { contractChecks, memorySubject, runCheck } from "./private/contract.js";

describe("the in-process store passes the store contract", () => {
  const subject = memorySubject();
  for (const check of contractChecks) it(check.name, () => runCheck(subject, check));
});

describe("the in-process store", () => {
  it("drops expired keys that are never read again, so a long run does not grow without bound", async () => {
    let clock = 1_000_000;
    const database = createMemoryDatabase({ now: () => clock });
    const store = createMemoryStore({ namespace: "sweep", database });
    const batch = store.batch();
    for (let i = 0; i < 1_000; i++) {
      batch.setFieldsIfAbsent(
        recordKey(`status/${i}`, { received: stringCodec }),
        { received: "t" },
        { ttlMs: 500 },
      );
    }
    batch.set(valueKey("persistent", stringCodec), "stays");
    await batch.commit();
    expect(database.size).toBe(1_001);
    clock += 499;
    expect(database.size).toBe(1_001);
    clock += 1;
    expect(database.size).toBe(1);
    // A key whose expiry moved later survives the sweep of its earlier expiry.
    await store.set(valueKey("moved", stringCodec), "v", { ttlMs: 10 });
    await store.expire(valueKey("moved", stringCodec), 1_000);
    clock += 20;
    expect(await store.get(valueKey("moved", stringCodec))).toBe("v");
  });

  it("gives every store over one database its own namespace and close", async () => {
    const database = createMemoryDatabase();
    const a = createMemoryStore({ namespace: "role-a", database });
    const b = createMemoryStore({ namespace: "role-b", database });
    const sharedWithA = createMemoryStore({ namespace: "role-a", database });
    await a.increment(counterKey("n"), 2);
    expect(await sharedWithA.getCounter(counterKey("n"))).toBe(2);
    expect(await b.getCounter(counterKey("n"))).toBe(0);
    await a.close();
    expect(await sharedWithA.increment(counterKey("n"))).toBe(3);
    expect(b.ready).toBe(true);
  });

  it("refuses bad options with INVALID_ARGUMENT", () => {
    const attempts = [
      () => createMemoryStore({ namespace: "" }),
      () => createMemoryStore({ namespace: "has space" }),
      () => createMemoryStore({ namespace: ":colon-first" }),
      () => createMemoryStore({ namespace: "x", database: createMemoryDatabase(), now: Date.now }),
      () => createMemoryStore({ namespace: "x", database: { size: 0 } }),
    ];
    for (const attempt of attempts) {
      let error: unknown;
      try {
        attempt();
      } catch (thrown) {
        error = thrown;
      }
      expect(isStoreError(error, "INVALID_ARGUMENT"), String(error)).toBe(true);
    }
  });

  it("shares no bytes with its callers, in either direction", async () => {
    const store = createMemoryStore({ namespace: "copies" });
    const key = valueKey("bytes", bytesCodec);
    const written = new Uint8Array([1, 2, 3]);
    await store.set(key, written);
    written[0] = 9;
    const read = await store.get(key);
    expect(read).toEqual(new Uint8Array([1, 2, 3]));
    read!.fill(0);
    expect(await store.get(key)).toEqual(new Uint8Array([1, 2, 3]));
  });
});
