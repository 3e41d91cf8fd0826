import { status } from "@grpc/grpc-js";
import { encodeKey, feePayerRouteIndex, type Keypair, memoInstruction, toHex } from "@simd23/core";
import { tx, voteaggregator } from "@simd23/proto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type ClientOptions, connect, type Simd23Client } from "./client.js";
import { freePort } from "./devnet/ports.js";
import {
  ConfirmationTimeoutError,
  ConnectionError,
  InsufficientBalanceError,
  InvalidInputError,
  TransactionDroppedError,
  TransactionRejectedError,
} from "./errors.js";
import { generateKeypair } from "./keys.js";
import {
  confirmLater,
  FakeAggregator,
  FakeExecutor,
  FakeProposer,
  type RunningServer,
  refusal,
  startGrpcServer,
} from "./private/test-cluster.js";
import type { TransactionStatus } from "./status.js";

const L = voteaggregator.ConfirmationLevel;

/** A keypair whose public key routes to index `i` of an active set of `n`. */
function payerRoutedTo(i: number, n: number): Keypair {
  for (;;) {
    const keypair = generateKeypair();
    if (feePayerRouteIndex(keypair.publicKey, n) === i) return keypair;
  }
}

const servers: RunningServer[] = [];
const clients: Simd23Client[] = [];
let proposers: FakeProposer[];
let proposerServers: RunningServer[];
let aggregator: FakeAggregator;
let aggregatorServer: RunningServer;
let executorA: FakeExecutor;
let executorB: FakeExecutor;
let executorServers: RunningServer[];
let active: Uint8Array[];

beforeAll(async () => {
  aggregator = new FakeAggregator();
  aggregatorServer = await startGrpcServer([aggregator.service]);
  executorA = new FakeExecutor(new Uint8Array(32).fill(0xa));
  executorB = new FakeExecutor(new Uint8Array(32).fill(0xb));
  executorServers = [await startGrpcServer([executorA.service]), await startGrpcServer([executorB.service])];
  servers.push(aggregatorServer, ...executorServers);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

beforeEach(async () => {
  const identities = [generateKeypair(), generateKeypair(), generateKeypair()];
  active = identities.map((k) => k.publicKey);
  proposers = identities.map((identity) => new FakeProposer(identity, () => active));
  proposerServers = await Promise.all(proposers.map((p) => startGrpcServer([p.service])));
  for (const proposer of proposers)
    proposer.behaviour = (transactions) => {
      confirmLater(aggregator, transactions[0]!, proposer.identity.publicKey);
      return undefined;
    };
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(proposerServers.map((s) => s.close()));
});

function client(options: Partial<ClientOptions> = {}): Simd23Client {
  const created = connect({
    proposers: proposerServers.map((s) => s.address),
    voteAggregator: aggregatorServer.address,
    executors: executorServers.map((s) => s.address),
    rpcTimeoutMs: 2_000,
    routingRefreshMs: 60_000,
    ...options,
  });
  clients.push(created);
  return created;
}

const memo = (payer: Keypair, text: string) => ({ signers: [payer], instructions: [memoInstruction(text)] });

describe("sending to the proposer of the fee payer", () => {
  it("sends each fee payer's transactions to its proposer in the active set", async () => {
    const c = client();
    for (let i = 0; i < 3; i++) {
      const payer = payerRoutedTo(i, 3);
      const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, `to ${i}`)));
      expect(sent).toMatchObject({
        address: proposerServers[i]!.address,
        proposer: proposers[i]!.identityText,
        forwarded: false,
        alreadyKnown: false,
      });
    }
    expect(proposers.map((p) => p.submitted.length)).toEqual([1, 1, 1]);
    expect(toHex(proposers[1]!.submitted[0]![0]!.signatures[0]!)).toMatch(/^[0-9a-f]{128}$/);
  });

  it("learns a new active set when the routed proposer says it is not scheduled", async () => {
    const c = client();
    const payer = payerRoutedTo(0, 3);
    await c.sendTransaction(await c.buildTransaction(memo(payer, "first")));
    expect(proposers[0]!.submitted).toHaveLength(1);
    // Proposer 0 leaves the set; with two active proposers this payer routes to index 0 of [1, 2].
    active = [proposers[1]!.identity.publicKey, proposers[2]!.identity.publicKey];
    const expected = feePayerRouteIndex(payer.publicKey, 2) + 1;
    proposers[0]!.behaviour = () =>
      refusal(status.FAILED_PRECONDITION, "NOT_SCHEDULED", "not in the active set");
    const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, "second")));
    expect(sent.address).toBe(proposerServers[expected]!.address);
    expect(proposers[0]!.submitted).toHaveLength(2);
    expect(proposers[expected]!.submitted).toHaveLength(1);
  });

  it("falls back to another proposer when the routed one is unreachable, and names them all when none is", async () => {
    const c = client();
    const payer = payerRoutedTo(0, 3);
    await c.sendTransaction(await c.buildTransaction(memo(payer, "before")));
    await proposerServers[0]!.close();
    const statusCalls = proposers[1]!.statusCalls;
    const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, "after")));
    expect(sent.address).toBe(proposerServers[1]!.address);
    expect(proposers[1]!.statusCalls).toBeGreaterThan(statusCalls);

    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const nobody = client({ proposers: dead });
    const transaction = nobody.sign({ ...memo(payer, "nowhere"), recentBlockhash: new Uint8Array(32) });
    const error = await nobody.sendTransaction(transaction).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).addresses).toEqual(dead);
    expect((error as Error).message).toBe(`cannot reach any of ${dead.join(", ")}: connection refused`);
  });

  it("retries a full queue after a pause, and gives up after the attempts it is allowed", async () => {
    const payer = payerRoutedTo(2, 3);
    let refusals = 2;
    proposers[2]!.behaviour = () =>
      refusals-- > 0 ? refusal(status.RESOURCE_EXHAUSTED, "QUEUE_FULL", "queue full") : undefined;
    const c = client();
    const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, "busy")));
    expect(sent.address).toBe(proposerServers[2]!.address);
    expect(proposers[2]!.submitted).toHaveLength(3);

    proposers[2]!.behaviour = () => refusal(status.RESOURCE_EXHAUSTED, "QUEUE_FULL", "queue full");
    const impatient = client({ sendAttempts: 2 });
    const error = await impatient
      .sendTransaction(await impatient.buildTransaction(memo(payer, "still busy")))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionRejectedError);
    expect(error).toMatchObject({ reason: "QUEUE_FULL", address: proposerServers[2]!.address });
  });

  it("reports any other refusal at once, with its reason", async () => {
    const payer = payerRoutedTo(1, 3);
    proposers[1]!.behaviour = () =>
      refusal(status.INVALID_ARGUMENT, "BAD_SIGNATURE", "signature 0 does not verify");
    const c = client();
    const transaction = await c.buildTransaction(memo(payer, "forged"));
    const error = await c.sendTransaction(transaction).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionRejectedError);
    expect((error as Error).message).toBe(
      `transaction ${transaction.signature} rejected by ${proposerServers[1]!.address}: BAD_SIGNATURE: signature 0 does not verify`,
    );
    expect(proposers[1]!.submitted).toHaveLength(1);
    expect(proposers[0]!.submitted.length + proposers[2]!.submitted.length).toBe(0);
  });

  it("treats DUPLICATE after an unanswered attempt as delivered", async () => {
    const payer = payerRoutedTo(0, 3);
    proposers[0]!.answerDelayMs = 1_000;
    proposers[1]!.behaviour = () => refusal(status.ALREADY_EXISTS, "DUPLICATE", "already held");
    const c = client({ rpcTimeoutMs: 300 });
    const transaction = await c.buildTransaction(memo(payer, "slow"));
    const sent = await c.sendTransaction(transaction);
    expect(sent).toMatchObject({ signature: transaction.signature, alreadyKnown: true, proposer: null });
    // A DUPLICATE with no earlier attempt is the caller's mistake, reported as such.
    proposers[0]!.answerDelayMs = 0;
    proposers[0]!.behaviour = () => refusal(status.ALREADY_EXISTS, "DUPLICATE", "already held");
    await expect(c.sendTransaction(transaction)).rejects.toMatchObject({ reason: "DUPLICATE" });
  });

  it("routes a bundle by its first fee payer and checks its shape before sending", async () => {
    const c = client();
    const first = payerRoutedTo(2, 3);
    const other = payerRoutedTo(0, 3);
    const bundle = await c.buildBundle([memo(first, "a"), memo(other, "b")]);
    const sent = await c.sendBundle(bundle);
    expect(sent.address).toBe(proposerServers[2]!.address);
    expect(sent.signatures).toEqual(bundle.map((t) => t.signature));
    expect(proposers[2]!.submitted[0]).toHaveLength(2);
    await expect(c.buildBundle([memo(first, "same"), memo(first, "same")])).rejects.toThrow(
      /transactions 0 and 1 of the bundle are identical/,
    );
    await expect(c.buildBundle([])).rejects.toThrow(InvalidInputError);
    await expect(c.buildBundle(Array.from({ length: 6 }, (_, i) => memo(first, `${i}`)))).rejects.toThrow(
      /1 to 5 transactions, got 6/,
    );
  });

  it("takes a blockhash from the first proposer that answers", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    proposers[1]!.blockhash = new Uint8Array(32).fill(9);
    const c = client({ proposers: [dead, proposerServers[1]!.address] });
    expect(await c.getLatestBlockhash()).toEqual({
      blockhash: new Uint8Array(32).fill(9),
      slot: 5,
      lastValidSlot: 155,
    });
  });
});

describe("balances and the preflight check", () => {
  it("answers from the executor that executed the newest slot", async () => {
    const account = generateKeypair();
    executorA.slot = 40;
    executorB.slot = 41;
    executorA.balances.set(encodeKey(account.publicKey), 100n);
    executorB.balances.set(encodeKey(account.publicKey), 90n);
    const balance = await client().getBalance(account.publicKey);
    expect(balance).toMatchObject({
      lamports: 90n,
      slot: 41,
      exists: true,
      address: executorServers[1]!.address,
    });
    const unknown = await client().getBalance(generateKeypair().publicKey);
    expect(unknown).toMatchObject({ lamports: 0n, exists: false });
  });

  it("refuses a transfer the payer cannot cover, before sending it", async () => {
    const payer = payerRoutedTo(0, 3);
    executorA.slot = 50;
    executorB.slot = 50;
    executorA.balances.set(encodeKey(payer.publicKey), 6_000n);
    executorB.balances.set(encodeKey(payer.publicKey), 6_000n);
    const c = client();
    const error = await c
      .transfer({ from: payer, to: generateKeypair().publicKey, lamports: 2_000 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InsufficientBalanceError);
    expect(error).toMatchObject({ balance: 6_000n, required: 7_000n, slot: 50 });
    expect(proposers.every((p) => p.submitted.length === 0)).toBe(true);
    const sent = await c.transfer({ from: payer, to: generateKeypair().publicKey, lamports: 1_000 });
    expect(sent.address).toBe(proposerServers[0]!.address);
    await expect(c.transfer({ from: payer, to: "nope", lamports: 1 })).rejects.toThrow(InvalidInputError);
    await expect(c.transfer({ from: payer, to: payer.publicKey, lamports: -1 })).rejects.toThrow(
      /from 0 to 2\^64-1/,
    );
  });

  it("names the executors when none answers", async () => {
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    await expect(client({ executors: dead }).getBalance(generateKeypair().publicKey)).rejects.toThrow(
      `cannot reach any of ${dead.join(", ")}`,
    );
  });
});

describe("confirmations", () => {
  it("resolves at the level asked, with every level's time and the result", async () => {
    const c = client();
    const payer = payerRoutedTo(1, 3);
    const seen: (string | null)[] = [];
    const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, "confirm me")));
    const executed = await c.confirm(sent.signature, "executed", { onStatus: (s) => seen.push(s.level) });
    expect(executed.level === "executed" || executed.level === "finalized").toBe(true);
    expect(Object.keys(executed.levels).slice(0, 5)).toEqual([
      "received",
      "proposed",
      "recorded",
      "optimistic",
      "executed",
    ]);
    expect(executed.result).toMatchObject({
      ok: true,
      status: "ok",
      fee: 5_000n,
      proposer: proposers[1]!.identityText,
    });
    expect(seen.at(-1)).toBe(executed.level);
    expect(seen.length).toBeGreaterThan(1);
    const finalized = await c.confirm(sent.signature, "finalized");
    expect(finalized.levels.finalized).toBeGreaterThanOrEqual(finalized.levels.executed!);
  });

  it("sees levels reached before it asked (the poll) and the executed error result", async () => {
    const c = client();
    const payer = payerRoutedTo(2, 3);
    proposers[2]!.behaviour = (transactions) => {
      confirmLater(aggregator, transactions[0]!, proposers[2]!.identity.publicKey, {
        stepMs: 0,
        status: tx.ExecutionStatus.EXECUTION_STATUS_INSUFFICIENT_FUNDS,
      });
      return undefined;
    };
    const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, "early")));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const status = await c.confirm(sent.signature, "optimistic");
    expect(status.level).toBe("finalized");
    expect(status.result).toMatchObject({ ok: false, status: "InsufficientFunds" });
  });

  it("fails with the reason when the transaction is dropped", async () => {
    const c = client();
    const payer = payerRoutedTo(0, 3);
    proposers[0]!.behaviour = (transactions) => {
      const signature = transactions[0]!.signatures[0]!;
      setTimeout(() => {
        aggregator.reach(signature, { level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: Date.now() });
        aggregator.reach(signature, {
          level: L.CONFIRMATION_LEVEL_DROPPED,
          timeMs: Date.now(),
          droppedReason: "UserBlock arrived after the grace period",
        });
      }, 20);
      return undefined;
    };
    const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, "doomed")));
    const error = await c.confirm(sent.signature, "executed").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionDroppedError);
    expect((error as TransactionDroppedError).reason).toBe("UserBlock arrived after the grace period");
    expect((error as TransactionDroppedError).status.levels.dropped).toBeDefined();
  });

  it("times out with the status it had", async () => {
    const c = client();
    const payer = payerRoutedTo(0, 3);
    proposers[0]!.behaviour = (transactions) => {
      confirmLater(aggregator, transactions[0]!, proposers[0]!.identity.publicKey, {
        stepMs: 0,
        until: L.CONFIRMATION_LEVEL_RECORDED,
      });
      return undefined;
    };
    const sent = await c.sendTransaction(await c.buildTransaction(memo(payer, "stuck")));
    const error = await c.confirm(sent.signature, "executed", { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfirmationTimeoutError);
    expect((error as ConfirmationTimeoutError).status.level).toBe("recorded");
    expect((error as Error).message).toMatch(/did not reach executed within 300 ms \(last level: recorded\)/);
    const unseen = await c
      .confirm(encodeKey(new Uint8Array(64).fill(5)), "received", { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect((unseen as Error).message).toMatch(/never seen by the vote aggregator/);
  });

  it("opens the stream again when it ends, without waiting for a poll", async () => {
    const c = client({ pollIntervalMs: 60_000 });
    const signature = new Uint8Array(64).fill(0x42);
    aggregator.reach(signature, { level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: 1_000 });
    const calls = aggregator.subscribeCalls;
    const waiting = c.confirm(signature, "recorded", { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    aggregator.endStreams();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(aggregator.subscribeCalls).toBeGreaterThanOrEqual(calls + 2);
    aggregator.reach(signature, { level: L.CONFIRMATION_LEVEL_RECORDED, timeMs: 2_000 });
    const status: TransactionStatus = await waiting;
    expect(status.levels).toEqual({ received: 1_000, proposed: 2_000, recorded: 2_000 });
  });

  it("fails at once when the aggregator cannot be reached", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const error = await client({ voteAggregator: dead })
      .confirm(encodeKey(new Uint8Array(64).fill(1)), "executed", { timeoutMs: 30_000 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toBe(`cannot reach ${dead}: connection refused`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("reads statuses in the order asked, unknown ones as not found", async () => {
    const known = new Uint8Array(64).fill(0x51);
    aggregator.reach(known, { level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: 5 });
    const unknown = new Uint8Array(64).fill(0x52);
    const [a, b] = await client().getSignatureStatuses([unknown, encodeKey(known)]);
    expect(a).toMatchObject({ signature: encodeKey(unknown), found: false, level: null, levels: {} });
    expect(b).toMatchObject({
      signature: encodeKey(known),
      found: true,
      level: "received",
      levels: { received: 5 },
    });
  });
});

describe("subscriptions", () => {
  it("delivers every signature's levels as they are reached until closed", async () => {
    const c = client();
    const subscription = c.subscribeSignatures();
    const received: string[] = [];
    const done = (async () => {
      for await (const update of subscription) {
        received.push(`${update.signature.slice(0, 4)}:${update.level}`);
        if (received.length === 3) subscription.close();
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const one = new Uint8Array(64).fill(0x61);
    const two = new Uint8Array(64).fill(0x62);
    aggregator.reach(one, { level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: 1 });
    aggregator.reach(two, { level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: 2 });
    aggregator.reach(one, { level: L.CONFIRMATION_LEVEL_PROPOSED, timeMs: 3 });
    await done;
    expect(received).toEqual([
      `${encodeKey(one).slice(0, 4)}:received`,
      `${encodeKey(two).slice(0, 4)}:received`,
      `${encodeKey(one).slice(0, 4)}:proposed`,
    ]);
  });

  it("fails iteration with a ConnectionError when the aggregator is unreachable", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const subscription = client({ voteAggregator: dead }).subscribeSignatures([new Uint8Array(64)]);
    const iterate = async () => {
      for await (const _update of subscription) return;
    };
    await expect(iterate()).rejects.toThrow(`cannot reach ${dead}: connection refused`);
  });
});
