import { createHash } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";

afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

describe("PoH without the native addon", () => {
  it("falls back to JavaScript, says why, and computes the same chain", async () => {
    vi.stubEnv("SIMD23_POH_NATIVE", "off");
    vi.resetModules();
    const poh = await import("./index.js");
    expect(poh.pohImplementation()).toEqual({
      implementation: "js",
      fallbackReason: "switched off by SIMD23_POH_NATIVE=off",
    });
    expect(poh.pohHashers().map((hasher) => hasher.implementation)).toEqual(["js"]);

    const start = new Uint8Array(32).fill(7);
    let expected = Buffer.from(start);
    for (let i = 0; i < 1000; i++) expected = createHash("sha256").update(expected).digest();
    expect(Buffer.from(poh.hashChain(start, 1000)).equals(expected)).toBe(true);

    const recorder = new poh.PohRecorder(start, { hashesPerTick: 10 });
    const entries = [recorder.record(Uint8Array.of(1)), recorder.tick(), recorder.tick()];
    expect(poh.firstInvalidEntry(start, entries)).toBe(-1);
    expect(await poh.firstInvalidEntryAsync(start, entries)).toBe(-1);
  });
});
