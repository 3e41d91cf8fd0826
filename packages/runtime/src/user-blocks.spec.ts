import { randomBytes } from "node:crypto";
import { Server as GrpcServer, status as GrpcStatus, type Server, ServerCredentials } from "@grpc/grpc-js";
import { createMemoryBus } from "@simd23/bus";
import {
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  KEY_ROLES,
  toHex,
  UserBlockBuilder,
  type WellFormedUserBlock,
} from "@simd23/core";
import { proposer } from "@simd23/proto";
import { createMemoryStore } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { ProposerDirectory } from "./proposer-directory.js";
import { SignedPublisher } from "./publisher.js";
import { subjects } from "./subjects.js";
import { UserBlockSource } from "./user-blocks.js";

const seed = new Uint8Array(32).fill(8);
const genesis = createTestnetGenesis({
  clusterName: "blocks",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 1,
  proposerPool: 2,
  timing: { ticksPerSlot: 8, hashesPerTick: 16, proposerHashesPerTick: 4, graceTicks: 1 },
});
const keys = [0, 1].map((i) => deriveKeypair(seed, KEY_ROLES.proposer, i));
const active = keys.map((k) => k.publicKey);

function build(index: number, userBlockSlot: number): WellFormedUserBlock {
  const builder = new UserBlockBuilder({
    genesis,
    keypair: keys[index]!,
    userBlockSlot,
    activeProposerCount: active.length,
  });
  return builder.finish();
}

async function serveBlocks(
  blocks: readonly WellFormedUserBlock[],
): Promise<{ server: Server; address: string }> {
  const server = new GrpcServer();
  const byHash = new Map(blocks.map((b) => [toHex(b.blockHash), b.block]));
  server.addService(proposer.ProposerServiceService, {
    getUserBlock: (
      call: { request: proposer.GetUserBlockRequest },
      callback: (e: unknown, r?: unknown) => void,
    ) => {
      const block = byHash.get(toHex(call.request.blockHash));
      if (block) callback(null, { userBlock: block });
      else callback({ code: GrpcStatus.NOT_FOUND, details: "no such block" });
    },
  } as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

describe("UserBlockSource", () => {
  let server: Server | undefined;
  afterEach(() => server?.forceShutdown());

  it("finds a block on the stream, repairs one missing from it over gRPC, and says when neither has it", async () => {
    const namespace = `blocks-${randomBytes(4).toString("hex")}`;
    const bus = createMemoryBus({ namespace });
    const directory = new ProposerDirectory(createMemoryStore({ namespace }), genesis);
    const onStream = build(0, 5);
    const onlyAtProposer = build(1, 5);
    await new SignedPublisher(bus, keys[0]!).publish(
      EnvelopeKind.KIND_USER_BLOCK,
      subjects.userBlock(5, onStream.proposer, onStream.blockHash),
      onStream.bytes,
    );
    const served = await serveBlocks([onlyAtProposer]);
    server = served.server;
    await directory.claim("replica-1", served.address, 10_000, 1);

    const source = new UserBlockSource({ bus, genesis, directory });
    const ref = (b: WellFormedUserBlock) => ({
      userBlockSlot: 5,
      proposer: b.proposer,
      blockHash: b.blockHash,
    });
    const first = await source.fetch(ref(onStream), active);
    expect(first.ok && first.source).toBe("stream");
    const again = await source.fetch(ref(onStream), active);
    expect(again.ok && again.source).toBe("cache");
    const repaired = await source.fetch(ref(onlyAtProposer), active);
    expect(repaired.ok && repaired.source).toBe("proposer");
    expect(repaired.ok && repaired.block.blockHash).toEqual(onlyAtProposer.blockHash);

    const unknown = await source.fetch({ ...ref(onlyAtProposer), blockHash: new Uint8Array(32) }, active);
    expect(unknown).toMatchObject({ ok: false, reason: "MISSING" });
    const nobody = await source.fetch(ref(build(0, 7)), active);
    expect(nobody).toMatchObject({
      ok: false,
      reason: "MISSING",
      detail: "its proposer is not in the directory",
    });
    await bus.close();
  });

  it("finds the proposer's copy on the stream under bytes filed after it, without asking the proposer", async () => {
    const namespace = `blocks-${randomBytes(4).toString("hex")}`;
    const bus = createMemoryBus({ namespace });
    const directory = new ProposerDirectory(createMemoryStore({ namespace }), genesis);
    const block = build(0, 4);
    const subject = subjects.userBlock(4, block.proposer, block.blockHash);
    await new SignedPublisher(bus, keys[0]!).publish(EnvelopeKind.KIND_USER_BLOCK, subject, block.bytes);
    await bus.publish(subject, new Uint8Array([0xde, 0xad]));
    await new SignedPublisher(bus, keys[1]!).publish(EnvelopeKind.KIND_USER_BLOCK, subject, block.bytes);

    // No proposer in the directory: only the stream can answer.
    const source = new UserBlockSource({ bus, genesis, directory });
    const fetched = await source.fetch(
      { userBlockSlot: 4, proposer: block.proposer, blockHash: block.blockHash },
      active,
    );
    expect(fetched.ok && fetched.source).toBe("stream");
    expect(fetched.ok && fetched.block.blockHash).toEqual(block.blockHash);
    await bus.close();
  });

  it("ignores the stream's copies of a faulted proposer's blocks, and refuses a copy signed by someone else", async () => {
    const namespace = `blocks-${randomBytes(4).toString("hex")}`;
    const bus = createMemoryBus({ namespace });
    const directory = new ProposerDirectory(createMemoryStore({ namespace }), genesis);
    const block = build(0, 3);
    await new SignedPublisher(bus, keys[0]!).publish(
      EnvelopeKind.KIND_USER_BLOCK,
      subjects.userBlock(3, block.proposer, block.blockHash),
      block.bytes,
    );
    const ref = { userBlockSlot: 3, proposer: block.proposer, blockHash: block.blockHash };
    const faulted = new UserBlockSource({
      bus,
      genesis,
      directory,
      ignoreStreamFrom: new Set([toHex(block.proposer)]),
    });
    expect(await faulted.fetch(ref, active)).toMatchObject({ ok: false, reason: "MISSING" });

    const source = new UserBlockSource({ bus, genesis, directory });
    const relayed = new SignedPublisher(bus, keys[1]!);
    const sealed = await relayed.publish(
      EnvelopeKind.KIND_USER_BLOCK,
      subjects.userBlock(3, keys[1]!.publicKey, block.blockHash),
      block.bytes,
    );
    expect(sealed.seq).toBeGreaterThan(0);
    const stored = await bus.getLast(
      "USERBLOCKS",
      subjects.userBlock(3, keys[1]!.publicKey, block.blockHash),
    );
    expect(source.openStreamCopy(stored!.data, active)).toMatchObject({ ok: false, reason: "BAD_SIGNATURE" });
    await bus.close();
  });
});
