import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Fixture, fuzzGrpcMethods, fuzzStreams, startFixture } from "./fixture.js";
import { FUZZ_RUNS } from "./inputs.js";

// The same fuzz properties against every role as its own process on the real NATS and Redis
// (the built services: run `npx tsc -b` first), with a third of the cases: what the embedded run
// proves about the services, this proves holds over the real bus, store and process boundaries.

const RUNS = Math.max(1, Math.ceil(FUZZ_RUNS / 3));
// The suite's own switch, read above: the role processes inherit this environment and would warn that nothing reads it.
delete process.env.SIMD23_FUZZ_RUNS;
let f: Fixture | undefined;

beforeAll(async () => {
  f = await startFixture("servers");
}, 120_000);

afterAll(async () => {
  await f?.cluster.stop();
});

describe("fuzzed input on real NATS and Redis, every role a process", () => {
  it("every gRPC method and every stream: typed refusals, nothing changes, no process exits", async () => {
    const fixture = f!;
    await fuzzGrpcMethods(fixture, RUNS);
    await fuzzStreams(fixture, RUNS);
    expect(fixture.cluster.replicas.filter((r) => !r.running).map((r) => r.name)).toEqual([]);
  });
});
