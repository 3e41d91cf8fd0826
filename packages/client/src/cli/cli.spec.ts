import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  bytesEqual,
  createTestnetGenesis,
  deriveKeypair,
  encodeKey,
  genesisToJson,
  toHex,
} from "@simd23/core";
import { tx } from "@simd23/proto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type DevnetFile, writeDevnetFile } from "../devnet/file.js";
import { freePort } from "../devnet/ports.js";
import { generateKeypair, readKeypairFile, writeKeypairFile } from "../keys.js";
import {
  confirmLater,
  FakeAggregator,
  FakeExecutor,
  FakeLeader,
  FakeProposer,
  FakeVerifier,
  type RunningServer,
  startGrpcServer,
} from "../private/test-cluster.js";

const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const workspace = mkdtempSync(join(tmpdir(), "simd23-cli-"));
const home = join(workspace, "home");
const emptyHome = join(workspace, "empty-home");

/** Runs the built CLI as a child process (never synchronously: the test's servers must keep answering). */
function run(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, SIMD23_HOME: home, SIMD23_CLUSTER_SEED: "", SIMD23_DEBUG: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 25_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A failure is one line on stderr and never a stack trace. */
function expectOneLineError(result: Run, code: number, message: RegExp): void {
  expect(result.code).toBe(code);
  expect(result.stderr.endsWith("\n")).toBe(true);
  expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(result.stderr).toMatch(/^error: /);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).toMatch(message);
}

const seed = new Uint8Array(32).fill(0x5e);
const faucet = deriveKeypair(seed, "faucet", 0);
const poor = generateKeypair();
const servers: RunningServer[] = [];
let proposers: FakeProposer[];
let aggregator: FakeAggregator;
let executorNode: FakeExecutor;

beforeAll(async () => {
  if (!existsSync(CLI))
    throw new Error(`build the CLI first: npx tsc -b packages/client (${CLI} is missing)`);
  const identities = [generateKeypair(), generateKeypair()];
  proposers = identities.map(
    (identity) => new FakeProposer(identity, () => identities.map((k) => k.publicKey)),
  );
  aggregator = new FakeAggregator();
  aggregator.cluster = {
    ...aggregator.cluster,
    slot: 45,
    optimisticSlot: 44,
    executedSlot: 41,
    finalizedSlot: 30,
  };
  executorNode = new FakeExecutor(new Uint8Array(32).fill(0xe));
  const verifier = new FakeVerifier();
  const leaderNode = new FakeLeader(new Uint8Array(32).fill(0x1e));
  const proposerServers = await Promise.all(proposers.map((p) => startGrpcServer([p.service])));
  const [aggregatorServer, executorServer, verifierServer, leaderServer] = await Promise.all([
    startGrpcServer([aggregator.service]),
    startGrpcServer([executorNode.service]),
    startGrpcServer([verifier.service]),
    startGrpcServer([leaderNode.service]),
  ]);
  servers.push(...proposerServers, aggregatorServer, executorServer, verifierServer, leaderServer);

  const genesis = createTestnetGenesis({
    clusterName: "clitest",
    clusterSeed: seed,
    startTimeMs: 0n,
    validators: 1,
    proposerPool: 2,
  });
  mkdirSync(home, { recursive: true });
  mkdirSync(emptyHome, { recursive: true });
  writeFileSync(join(home, "genesis.json"), genesisToJson(genesis));
  const entry = (name: string, server: RunningServer) => ({
    name,
    address: server.address,
    pid: process.pid,
  });
  const devnet: DevnetFile = {
    version: 1,
    namespace: "clitest-ns",
    clusterName: "clitest",
    clusterSeed: toHex(seed),
    genesisPath: "genesis.json",
    pid: process.pid,
    startedAtMs: Date.now(),
    proposers: proposerServers.map((s, i) => entry(`proposer-${i}`, s)),
    leaders: [entry("leader-0", leaderServer)],
    executors: [entry("executor-0", executorServer)],
    voteAggregators: [entry("vote-aggregator-0", aggregatorServer)],
    bankHashVerifiers: [entry("bank-hash-verifier-0", verifierServer)],
  };
  writeDevnetFile(join(home, "devnet.json"), devnet);
  executorNode.balances.set(encodeKey(faucet.publicKey), 10n ** 15n);
  executorNode.balances.set(encodeKey(poor.publicKey), 1_000_000n);
  writeKeypairFile(join(workspace, "poor.json"), poor);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(workspace, { recursive: true, force: true });
});

beforeEach(() => {
  for (const proposer of proposers) {
    proposer.submitted.length = 0;
    // The poor payer's transfers execute with InsufficientFunds; everything else succeeds.
    proposer.behaviour = (transactions) => {
      for (const transaction of transactions) {
        const payer = tx.TransactionMessage.decode(transaction.message).signers[0]!;
        confirmLater(aggregator, transaction, proposer.identity.publicKey, {
          stepMs: 2,
          status: bytesEqual(payer, poor.publicKey)
            ? tx.ExecutionStatus.EXECUTION_STATUS_INSUFFICIENT_FUNDS
            : tx.ExecutionStatus.EXECUTION_STATUS_OK,
        });
      }
      return undefined;
    };
  }
});

const submittedCount = () => proposers.reduce((n, p) => n + p.submitted.length, 0);

describe("simd23 keygen", () => {
  it('prints {"pubkey", "path"} and writes a keypair file there', async () => {
    const result = await run(["keygen", "--json"]);
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { pubkey: string; path: string };
    expect(Object.keys(printed)).toEqual(["pubkey", "path"]);
    expect(printed.path).toBe(join(home, "keys", `${printed.pubkey}.json`));
    expect(encodeKey(readKeypairFile(printed.path).publicKey)).toBe(printed.pubkey);

    const outfile = join(workspace, "chosen.json");
    const chosen = await run(["keygen", "--outfile", outfile]);
    expect(chosen.code).toBe(0);
    expect(chosen.stdout).toContain(`Wrote new keypair to ${outfile}`);
    expectOneLineError(await run(["keygen", "--outfile", outfile]), 2, /refusing to overwrite a key/);
    expect((await run(["keygen", "--outfile", outfile, "--force", "--json"])).code).toBe(0);
  });
});

describe("simd23 order", () => {
  const file = (name: string, content: unknown) => {
    const path = join(workspace, name);
    writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  };

  it("prints ids in execution order, a bundle together, skipping what already ran", async () => {
    const path = file("order.json", {
      userBlockSlot: 12,
      blocks: [
        {
          proposer: "P2",
          entryIndex: 1,
          items: [
            { id: "b-cheap", cuPrice: 1, cuLimit: 1000, pohPosition: 3 },
            {
              bundle: [
                { id: "x", cuPrice: 10, cuLimit: 100 },
                { id: "y", cuPrice: 2, cuLimit: 300 },
              ],
              pohPosition: 0,
            },
          ],
        },
        {
          proposer: "P1",
          entryIndex: 0,
          items: [
            { id: "a-rich", cuPrice: "50", cuLimit: 1000, pohPosition: 9 },
            { id: "x", cuPrice: 5, cuLimit: 10, pohPosition: 1 },
            {
              bundle: [
                { id: "z", cuPrice: 4, cuLimit: 1 },
                { id: "b-cheap", cuPrice: 4, cuLimit: 1 },
              ],
              pohPosition: 2,
            },
          ],
        },
      ],
    });
    const result = await run(["order", path]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    // rates: a-rich 50, x 5, bundle x+y 4 (= (10·100 + 2·300)/400) at poh 0, bundle z+b-cheap 4 at poh 2, b-cheap 1.
    // x ran alone first, so the x+y bundle is skipped whole; z+b-cheap runs, so the later b-cheap is skipped.
    expect(result.stdout).toBe("a-rich\nx\nz\nb-cheap\n");
    const json = await run(["order", path, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({
      userBlockSlot: 12,
      ids: ["a-rich", "x", "z", "b-cheap"],
      skipped: ["x", "y", "b-cheap"],
    });
  });

  it("exits 2 with a clear message on malformed input", async () => {
    expectOneLineError(await run(["order", file("bad1.json", "{")]), 2, /bad1.json: not JSON/);
    expectOneLineError(
      await run([
        "order",
        file("bad2.json", {
          userBlockSlot: 1,
          blocks: [
            { proposer: "P", entryIndex: 0, items: [{ id: "a", cuPrice: 1, cuLimit: 0, pohPosition: 0 }] },
          ],
        }),
      ]),
      2,
      /blocks\[0\].items\[0\].cuLimit: must be an integer from 1/,
    );
    expectOneLineError(
      await run(["order", file("bad3.json", { userBlockSlot: -1, blocks: [] })]),
      2,
      /userBlockSlot/,
    );
    expectOneLineError(
      await run(["order", file("bad4.json", { userBlockSlot: 1 })]),
      2,
      /blocks: must be an array/,
    );
    expectOneLineError(
      await run(["order", join(workspace, "absent.json")]),
      2,
      /cannot read .*absent.json: ENOENT/,
    );
    expectOneLineError(
      await run(["order"]),
      2,
      /missing required argument 'file' \(see `simd23 order --help`\)/,
    );
  });
});

describe("sending and confirming against the devnet the devnet file names", () => {
  it('transfer --json prints {"signature"} once executed; status --json shows every level and the result', async () => {
    const to = generateKeypair();
    const result = await run(["transfer", "--to", encodeKey(to.publicKey), "--amount", "1000", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const printed = JSON.parse(result.stdout) as { signature: string };
    expect(Object.keys(printed)).toEqual(["signature"]);
    expect(submittedCount()).toBe(1);
    const signed = proposers.flatMap((p) => p.submitted)[0]![0]!;
    expect(encodeKey(signed.signatures[0]!)).toBe(printed.signature);
    const message = tx.TransactionMessage.decode(signed.message);
    expect(encodeKey(message.signers[0]!)).toBe(encodeKey(faucet.publicKey));
    expect(message.instructions[0]!.kind).toMatchObject({ $case: "transfer", value: { lamports: 1000n } });

    await new Promise((resolve) => setTimeout(resolve, 50));
    const status = await run(["status", printed.signature, "--json"]);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as {
      signature: string;
      levels: Record<string, string>;
      result: string;
    };
    expect(Object.keys(parsed)).toEqual(["signature", "levels", "result"]);
    expect(parsed.signature).toBe(printed.signature);
    expect(Object.keys(parsed.levels)).toEqual([
      "received",
      "proposed",
      "recorded",
      "optimistic",
      "executed",
      "finalized",
    ]);
    for (const time of Object.values(parsed.levels)) expect(new Date(time).toISOString()).toBe(time);
    expect(parsed.result).toBe("ok");

    const human = await run(["status", printed.signature]);
    expect(human.stdout).toMatch(new RegExp(`^Signature: ${printed.signature}\\n  received {4}\\d{4}-`));
    expect(human.stdout).toMatch(/Result: ok \(fee 5000 lamports, slot 7, UserBlockSlot 14, proposer \w+\)/);
  });

  it("takes the Solana argument forms and a sender keyfile, and reports a failed execution", async () => {
    const to = encodeKey(generateKeypair().publicKey);
    const airdrop = await run(["airdrop", "500", to, "--json"]);
    expect(airdrop.code).toBe(0);
    expect(Object.keys(JSON.parse(airdrop.stdout))).toEqual(["signature"]);
    const positional = await run(["transfer", to, "7", "--no-wait"]);
    expect(positional.code).toBe(0);
    expect(positional.stdout).toMatch(/^Signature: \w+\n$/);

    const failed = await run([
      "transfer",
      "--from",
      join(workspace, "poor.json"),
      "--to",
      to,
      "--amount",
      "10",
      "--json",
    ]);
    expectOneLineError(failed, 1, /transaction \w+ failed: InsufficientFunds \(fee 5000 lamports charged\)/);
    expect(Object.keys(JSON.parse(failed.stdout))).toEqual(["signature"]);
    const status = await run([
      "status",
      (JSON.parse(failed.stdout) as { signature: string }).signature,
      "--json",
    ]);
    expect((JSON.parse(status.stdout) as { result: string }).result).toBe("InsufficientFunds");
  });

  it("checks the balance first: a transfer beyond it is refused before sending", async () => {
    const result = await run([
      "transfer",
      "--from",
      join(workspace, "poor.json"),
      "--to",
      encodeKey(generateKeypair().publicKey),
      "--amount",
      "2000000",
    ]);
    expectOneLineError(
      result,
      1,
      new RegExp(
        `insufficient funds: ${encodeKey(poor.publicKey)} has 1000000 lamports at slot 42, the transaction needs 2005000`,
      ),
    );
    expect(submittedCount()).toBe(0);
  });

  it("sends a bundle and reads balances", async () => {
    const to = encodeKey(generateKeypair().publicKey);
    const bundle = await run(["bundle", `transfer:${to}:5`, "memo:hello: world", "burn:1000", "--json"]);
    expect(bundle.stderr).toBe("");
    expect(bundle.code).toBe(0);
    const { signatures } = JSON.parse(bundle.stdout) as { signatures: string[] };
    expect(signatures).toHaveLength(3);
    const sent = proposers.flatMap((p) => p.submitted);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.map((t) => encodeKey(t.signatures[0]!))).toEqual(signatures);
    expect(tx.TransactionMessage.decode(sent[0]![1]!.message).instructions[0]!.kind).toEqual({
      $case: "memo",
      value: { text: "hello: world" },
    });
    expectOneLineError(
      await run(["bundle", "memo:a", "memo:a"]),
      2,
      /transactions 0 and 1 of the bundle are identical/,
    );
    expectOneLineError(await run(["bundle", "stake:1"]), 2, /transaction 0 \("stake:1"\): expected transfer/);

    const balance = await run(["balance", join(workspace, "poor.json"), "--json"]);
    expect(JSON.parse(balance.stdout)).toEqual({
      pubkey: encodeKey(poor.publicKey),
      lamports: "1000000",
      exists: true,
      slot: 42,
    });
    expect((await run(["balance"])).stdout).toBe("1000000000000000 lamports\n");
  });
});

describe("watch and load", () => {
  it("watch --once shows slots, proposers, executors, the leader and the verifier", async () => {
    const screen = await run(["watch", "--once"]);
    expect(screen.code).toBe(0);
    expect(screen.stdout).toContain("devnet clitest (namespace clitest-ns)");
    expect(screen.stdout).toMatch(/slots +current 45 +optimistic 44 +executed 41 +finalized 30/);
    expect(screen.stdout).toMatch(/leader .* slot 45 +leading +2\.00 MH\/s/);
    expect(screen.stdout).toMatch(/verifier +executed 40 +verified 40 +ok/);
    for (const proposer of proposers) expect(screen.stdout).toContain(proposer.identityText.slice(0, 4));
    const json = await run(["watch", "--once", "--json"]);
    const snapshot = JSON.parse(json.stdout) as {
      cluster: { status: { slot: number } };
      executors: unknown[];
    };
    expect(snapshot.cluster.status.slot).toBe(45);
    expect(snapshot.executors).toHaveLength(1);
  });

  it("load reports the count and latency at each level", async () => {
    const result = await run([
      "load",
      "--rate",
      "40",
      "--duration",
      "0.5",
      "--payers",
      "2",
      "--until",
      "executed",
      "--json",
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      planned: number;
      accepted: number;
      levels: Record<string, { count: number; p50Ms: number }>;
      notExecuted: unknown[];
    };
    expect(report.planned).toBe(20);
    expect(report.accepted).toBe(20);
    expect(report.levels.executed!.count).toBe(20);
    expect(report.notExecuted).toEqual([]);
    const human = await run([
      "load",
      "--rate",
      "20",
      "--duration",
      "0.2",
      "--payers",
      "1",
      "--until",
      "received",
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^level +count +share +p50 +p99$/m);
    expect(human.stdout).toMatch(/^received +4 +100\.0%/m);
  });
});

describe("bad input and unreachable endpoints: one line, non-zero", () => {
  it("rejects malformed keys, amounts and signatures with exit 2", async () => {
    expectOneLineError(
      await run(["transfer", "--to", "not-a-key", "--amount", "1"]),
      2,
      /--to: "not-a-key" is neither a base58 public key nor a keypair file/,
    );
    expectOneLineError(
      await run(["transfer", "--to", encodeKey(faucet.publicKey), "--amount", "1.5"]),
      2,
      /--amount: expected a whole number of lamports, got "1.5"/,
    );
    expectOneLineError(await run(["transfer", "--amount", "1"]), 2, /missing the to: pass --to/);
    expectOneLineError(await run(["status", "xyz"]), 2, /not a transaction signature: "xyz"/);
    const badKeyfile = join(workspace, "bad-key.json");
    writeFileSync(badKeyfile, "[1,2,3]");
    expectOneLineError(
      await run(["transfer", "--from", badKeyfile, "--to", encodeKey(faucet.publicKey), "--amount", "1"]),
      2,
      /bad-key.json: not a keypair file: expected a JSON array of 64 numbers/,
    );
    expectOneLineError(
      await run(["transfer", "--bogus"]),
      2,
      /unknown option '--bogus' \(see `simd23 transfer --help`\)/,
    );
    expectOneLineError(await run(["load", "--rate", "x"]), 2, /--rate: expected a positive number, got "x"/);
    expectOneLineError(
      await run(["transfer", "--wait", "soon", "--to", encodeKey(faucet.publicKey), "--amount", "1"]),
      2,
      /--wait: expected received/,
    );
    expect(submittedCount()).toBe(0);
  });

  it("reports an unknown signature with exit 1", async () => {
    const unknown = encodeKey(new Uint8Array(64).fill(0x77));
    expectOneLineError(await run(["status", unknown]), 1, new RegExp(`unknown signature ${unknown}`));
  });

  it("names an unreachable endpoint, and says how to find a devnet when there is none", async () => {
    const port = await freePort();
    expectOneLineError(
      await run(["balance", encodeKey(faucet.publicKey), "--executor", `127.0.0.1:${port}`], {
        SIMD23_HOME: emptyHome,
      }),
      1,
      new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}: connection refused`),
    );
    expectOneLineError(
      await run(
        [
          "transfer",
          "--to",
          encodeKey(faucet.publicKey),
          "--amount",
          "1",
          "--proposer",
          `127.0.0.1:${port}`,
          "--skip-preflight",
          "--cluster-seed",
          toHex(seed),
        ],
        {
          SIMD23_HOME: emptyHome,
        },
      ),
      1,
      new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}: connection refused`),
    );
    expectOneLineError(
      await run(["balance", encodeKey(faucet.publicKey)], { SIMD23_HOME: emptyHome }),
      1,
      /devnet.json: no devnet file here: start a devnet with `pnpm devnet`/,
    );
    expectOneLineError(
      await run(["balance", "--executor", "nohostport"]),
      2,
      /--executor: expected host:port/,
    );
  });

  it("has --help on every command", async () => {
    const commands = [
      "keygen",
      "transfer",
      "airdrop",
      "bundle",
      "balance",
      "status",
      "watch",
      "load",
      "order",
      "genesis",
      "poh verify",
    ];
    const results = await Promise.all(commands.map((c) => run([...c.split(" "), "--help"])));
    results.forEach((result, i) => {
      expect(result.code, commands[i]).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: simd23 ${commands[i]}`));
    });
  });
});
