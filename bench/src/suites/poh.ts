import { spawnSync } from "node:child_process";
import { hash as cryptoHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_TIMING,
  firstInvalidEntry,
  firstInvalidEntryAsync,
  type PohEntry,
  type PohHasher,
  PohRecorder,
  pohHashers,
  pohImplementation,
} from "@simd23/core";
import { type Figure, formatValue, measureRate, type Suite } from "../harness.js";

const ROUND_MS = 500;
// Every rate is the best of ROUNDS rounds, the candidates taking turns, so a burst of load elsewhere on the
// machine costs one round of each rather than all of one.
const ROUNDS = 3;
const NATIVE_DIR = fileURLToPath(new URL("../../native/", import.meta.url));
const BASELINE_SOURCE = join(NATIVE_DIR, "sha256_chain.c");
const BASELINE_BINARY = join(NATIVE_DIR, "build", "sha256_chain");
const CHECK_LENGTH = 1_000;
const NODE_CRYPTO = "node:crypto hash() loop";
const C_OPENSSL = "C + OpenSSL SHA256";

/** Hashes per call: enough that the call's own cost (≈1 µs into native code) disappears in the rate. */
const HASHES_PER_CALL: Readonly<Record<PohHasher["implementation"], number>> = {
  "native/sha-ni": 200_000,
  "native/portable-bmi2": 50_000,
  "native/portable": 50_000,
  js: 20_000,
};

/** The PoH rate the default genesis asks of a leader. */
const DEFAULT_RATE =
  (DEFAULT_TIMING.hashesPerTick * DEFAULT_TIMING.ticksPerSlot * 1000) / DEFAULT_TIMING.slotDurationMs;

function nodeCryptoChain(n: number): Uint8Array {
  let h: Uint8Array = new Uint8Array(32);
  for (let i = 0; i < n; i++) h = cryptoHash("sha256", h, "buffer");
  return h;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** Pins the main thread (JavaScript and the synchronous native calls) to one CPU; null where taskset is missing. */
function pinMainThread(cpu: number): { restore(): void } | null {
  const current = spawnSync("taskset", ["-pc", String(process.pid)], { encoding: "utf8" });
  const list = current.status === 0 ? /:\s*([\d,-]+)\s*$/.exec(current.stdout)?.[1] : undefined;
  if (!list) return null;
  if (spawnSync("taskset", ["-pc", String(cpu), String(process.pid)]).status !== 0) return null;
  return { restore: () => spawnSync("taskset", ["-pc", list, String(process.pid)]) };
}

function findLibcrypto(): string | null {
  const dirs = [
    `/usr/lib/${process.arch === "arm64" ? "aarch64" : "x86_64"}-linux-gnu`,
    "/usr/lib64",
    "/usr/lib",
    "/lib",
  ];
  for (const dir of dirs) {
    for (const name of ["libcrypto.so.3", "libcrypto.so"])
      if (existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

function findOpensslHeaders(): string | null {
  // Node ships OpenSSL's headers under <prefix>/include/node; a system libssl-dev under /usr/include.
  const nodeHeaders = join(dirname(dirname(process.execPath)), "include", "node");
  for (const dir of [nodeHeaders, "/usr/include"]) if (existsSync(join(dir, "openssl", "sha.h"))) return dir;
  return null;
}

/** Compiles the C baseline and checks it computes the same chain as node:crypto; or says why it cannot. */
function buildNativeBaseline(): { readonly binary: string } | { readonly error: string } {
  if (spawnSync("gcc", ["--version"]).status !== 0) return { error: "no gcc on this machine" };
  const headers = findOpensslHeaders();
  if (!headers) return { error: "no OpenSSL headers (openssl/sha.h)" };
  const libcrypto = findLibcrypto();
  if (!libcrypto) return { error: "no libcrypto shared library" };
  mkdirSync(dirname(BASELINE_BINARY), { recursive: true });
  const compile = spawnSync(
    "gcc",
    ["-O2", "-I", headers, BASELINE_SOURCE, libcrypto, "-o", BASELINE_BINARY],
    {
      encoding: "utf8",
    },
  );
  if (compile.status !== 0) return { error: `gcc failed: ${compile.stderr.trim().split("\n")[0]}` };
  const check = spawnSync(BASELINE_BINARY, ["check", String(CHECK_LENGTH)], { encoding: "utf8" });
  if (check.status !== 0 || check.stdout.trim() !== hex(nodeCryptoChain(CHECK_LENGTH))) {
    return { error: "the C program's chain differs from node:crypto's" };
  }
  return { binary: BASELINE_BINARY };
}

function runNativeBaseline(binary: string, cpu: number | null): number {
  const command = cpu === null ? [binary] : ["taskset", "-c", String(cpu), binary];
  const run = spawnSync(command[0]!, [...command.slice(1), "rate", String(ROUND_MS)], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`the C baseline failed: ${run.stderr}`);
  const { hashes, seconds } = JSON.parse(run.stdout) as { hashes: number; seconds: number };
  return hashes / seconds;
}

function chainRate(hasher: PohHasher): () => Promise<number> {
  const state = new Uint8Array(32);
  const perCall = HASHES_PER_CALL[hasher.implementation];
  return () =>
    measureRate(() => {
      hasher.hashInPlace(state, perCall);
      return perCall;
    }, ROUND_MS);
}

/** Runs the measurements in turn ROUNDS times and keeps each one's best rate. */
async function bestOfRounds<K extends string>(measurements: Record<K, () => number | Promise<number>>) {
  const best = {} as Record<K, number>;
  for (let round = 0; round < ROUNDS; round++) {
    for (const key of Object.keys(measurements) as K[]) {
      const rate = await measurements[key]();
      best[key] = Math.max(best[key] ?? 0, rate);
    }
  }
  return best;
}

/** One slot of the default genesis as a leader records it: 64 ticks, two mixins (votes, UserBlockEntries) per tick. */
function recordSlot(start: Uint8Array): { entries: PohEntry[]; hashes: number } {
  const recorder = new PohRecorder(start, { hashesPerTick: DEFAULT_TIMING.hashesPerTick });
  const entries: PohEntry[] = [];
  for (let tick = 0; tick < DEFAULT_TIMING.ticksPerSlot; tick++) {
    for (let record = 0; record < 2; record++) {
      recorder.hash(Math.floor(DEFAULT_TIMING.hashesPerTick / 3));
      entries.push(recorder.record(Uint8Array.of(tick, record)));
    }
    entries.push(recorder.tick());
  }
  return { entries, hashes: DEFAULT_TIMING.ticksPerSlot * DEFAULT_TIMING.hashesPerTick };
}

function verifyRate(verify: () => number | Promise<number>, hashes: number): () => Promise<number> {
  return () =>
    measureRate(async () => {
      const firstInvalid = await verify();
      if (firstInvalid !== -1) throw new Error(`a valid slot failed verification at entry ${firstInvalid}`);
      return hashes;
    }, ROUND_MS);
}

const suite: Suite = {
  name: "poh",
  description:
    "The leader's PoH chain (h = sha256(h)) in hashes/s on one pinned core: the native addon's kernels, the " +
    "JavaScript fallback, a node:crypto loop, and a C program with OpenSSL's low-level SHA256 over the same " +
    "32-byte chain (the native limit, built here with gcc). Then verification of one default-genesis slot, " +
    `native on one thread against native on every core. Each rate is the best of ${ROUNDS} rounds of ` +
    `${ROUND_MS} ms, the candidates taking turns.`,
  async run() {
    const figures: Figure[] = [];
    const hashers = pohHashers();
    const cpu = cpus().length - 1;
    const pin = pinMainThread(cpu);
    const pinNote = pin ? `main thread pinned to CPU ${cpu}` : "not pinned: taskset unavailable";
    const baseline = buildNativeBaseline();

    let chainRates: Record<string, number>;
    try {
      const measurements: Record<string, () => number | Promise<number>> = {};
      for (const hasher of hashers) measurements[hasher.implementation] = chainRate(hasher);
      measurements[NODE_CRYPTO] = () =>
        measureRate(() => {
          nodeCryptoChain(20_000);
          return 20_000;
        }, ROUND_MS);
      if ("binary" in baseline)
        measurements[C_OPENSSL] = () => runNativeBaseline(baseline.binary, pin ? cpu : null);
      chainRates = await bestOfRounds(measurements);
    } finally {
      pin?.restore();
    }
    const nodeCryptoRate = chainRates[NODE_CRYPTO]!;
    const cRate = chainRates[C_OPENSSL] ?? null;
    const rates = hashers.map((hasher) => ({ hasher, rate: chainRates[hasher.implementation]! }));

    const cBaseline = cRate === null ? null : { name: C_OPENSSL, value: cRate };
    const cNote = "error" in baseline ? `; C baseline not built: ${baseline.error}` : "";
    const nodeCryptoBaseline = { name: NODE_CRYPTO, value: nodeCryptoRate };
    for (const { hasher, rate } of rates) {
      const inUse = hasher.implementation === pohImplementation().implementation ? ", in use" : "";
      figures.push({
        name: `PoH chain, ${hasher.implementation}${inUse}`,
        value: rate,
        unit: "hashes/s",
        baseline: cBaseline ?? nodeCryptoBaseline,
        note:
          `${(rate / nodeCryptoRate).toFixed(1)}× the node:crypto loop; ` +
          `${(rate / DEFAULT_RATE).toFixed(1)}× the default genesis rate of ${formatValue(DEFAULT_RATE)} hashes/s; ` +
          `${pinNote}${cNote}`,
      });
    }
    figures.push({
      name: "PoH chain, node:crypto hash() loop",
      value: nodeCryptoRate,
      unit: "hashes/s",
      ...(cBaseline ? { baseline: cBaseline } : {}),
      note: `${pinNote}${cNote}`,
    });
    if (cRate !== null) {
      figures.push({
        name: "PoH chain, C + OpenSSL SHA256 (the native limit)",
        value: cRate,
        unit: "hashes/s",
        baseline: nodeCryptoBaseline,
        note: `same chain checked against node:crypto; ${pin ? `pinned to CPU ${cpu}` : "not pinned"}`,
      });
    }

    const start = new Uint8Array(32).fill(0x5a);
    const slot = recordSlot(start);
    const slotNote = `one slot: ${slot.entries.length} entries, ${formatValue(slot.hashes)} hashes`;
    const native = hashers.find((hasher) => hasher.implementation !== "js");
    const js = hashers.find((hasher) => hasher.implementation === "js")!;
    const verifications: Record<string, () => Promise<number>> = {
      js: verifyRate(() => firstInvalidEntry(start, slot.entries, { hasher: js }), slot.hashes),
    };
    if (native) {
      verifications.single = verifyRate(
        () => firstInvalidEntry(start, slot.entries, { hasher: native, threads: 1 }),
        slot.hashes,
      );
      verifications.parallel = verifyRate(
        () => firstInvalidEntry(start, slot.entries, { hasher: native }),
        slot.hashes,
      );
      verifications.parallelAsync = verifyRate(
        () => firstInvalidEntryAsync(start, slot.entries, { hasher: native }),
        slot.hashes,
      );
    }
    const verified = await bestOfRounds(verifications);
    const jsRate = verified.js!;
    if (native) {
      const single = verified.single!;
      const singleBaseline = { name: `${native.implementation} on 1 thread`, value: single };
      figures.push(
        {
          name: `PoH verification, ${native.implementation}, 1 thread`,
          value: single,
          unit: "hashes/s",
          baseline: { name: "js on 1 thread", value: jsRate },
          note: slotNote,
        },
        {
          name: `PoH verification, ${native.implementation}, every core (${cpus().length}), sync`,
          value: verified.parallel!,
          unit: "hashes/s",
          baseline: singleBaseline,
          note: slotNote,
        },
        {
          name: `PoH verification, ${native.implementation}, every core (${cpus().length}), async`,
          value: verified.parallelAsync!,
          unit: "hashes/s",
          baseline: singleBaseline,
          note: `${slotNote}; off the JavaScript thread`,
        },
      );
    } else {
      figures.push({
        name: "PoH verification, js, 1 thread",
        value: jsRate,
        unit: "hashes/s",
        baseline: nodeCryptoBaseline,
        note: `${slotNote}; no native addon: ${pohImplementation().fallbackReason}`,
      });
    }
    return figures;
  },
};

export default suite;
