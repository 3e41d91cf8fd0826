import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartDir, helm } from "./helm.js";

/** Renders with `args` and returns helm's error output; fails the test if helm accepted the values. */
function refusal(args: readonly string[]): string {
  const result = helm(["template", "testnet", chartDir, ...args]);
  expect(result.status, `helm accepted ${args.join(" ")}`).not.toBe(0);
  return result.stderr;
}

describe("values.schema.json", () => {
  it.each([
    {
      what: "a negative replica count",
      args: ["--set", "proposer.replicaCount=-1"],
      message: "at '/proposer/replicaCount': minimum: got -1, want 0",
    },
    {
      what: "an unknown key",
      args: ["--set", "proposer.replicas=3"],
      message: "at '/proposer': additional properties 'replicas' not allowed",
    },
    {
      what: "an unknown top-level key",
      args: ["--set", "validators=4"],
      message: "additional properties 'validators' not allowed",
    },
    {
      what: "a string for a number",
      args: ["--set-string", "executor.replicaCount=four"],
      message: "at '/executor/replicaCount': got string, want integer",
    },
    {
      what: "a value outside an enum",
      args: ["--set", "genesis.mode=fast"],
      message: "at '/genesis/mode': value must be one of 'async', 'sync'",
    },
    {
      what: "a cluster seed that is not 32 bytes of hex",
      args: ["--set", "clusterSeed.value=abc"],
      message: "at '/clusterSeed/value': 'abc' does not match pattern",
    },
    {
      what: "an odd ticksPerSlot (a UserBlockSlot is half a slot)",
      args: ["--set", "genesis.timing.ticksPerSlot=63"],
      message: "at '/genesis/timing/ticksPerSlot': multipleOf: got 63, want 2",
    },
    {
      what: "an unknown timing constant",
      args: ["--set", "genesis.timing.slotMs=100"],
      message: "at '/genesis/timing': additional properties 'slotMs' not allowed",
    },
    {
      what: "a namespace the services would refuse",
      args: ["--set", "namespace=Simd23_Test"],
      message: "at '/namespace': 'Simd23_Test' does not match pattern",
    },
    {
      what: "external NATS without a URL",
      args: ["--set", "nats.enabled=false"],
      message: "at '/externalNats/url': minLength: got 0, want 1",
    },
  ])("refuses $what with a message naming the value", ({ args, message }) => {
    const stderr = refusal(args);
    expect(stderr).toContain("values don't meet the specifications of the schema");
    expect(stderr).toContain(message);
  });

  it("refuses more leaders than validators", () => {
    expect(refusal(["--set", "leader.replicaCount=5"])).toContain(
      "leader.replicaCount (5) must not exceed executor.replicaCount (4)",
    );
  });

  it("refuses more proposers than the genesis pool leaves room for", () => {
    expect(refusal(["--set", "proposer.replicaCount=16"])).toContain(
      "proposer.replicaCount (16) must be below proposer.poolSize (16)",
    );
    expect(helm(["template", "testnet", chartDir, "--set", "proposer.replicaCount=15"]).status).toBe(0);
  });

  // The if/then pairs under allOf only add conditions to objects already described (and closed).
  it("closes every object it describes to unknown keys", () => {
    const schema = JSON.parse(readFileSync(join(chartDir, "values.schema.json"), "utf8")) as Record<
      string,
      unknown
    >;
    const open: string[] = [];
    const visit = (node: unknown, path: string) => {
      if (node === null || typeof node !== "object") return;
      const record = node as Record<string, unknown>;
      if (record.properties !== undefined && record.additionalProperties !== false) open.push(path);
      for (const [key, child] of Object.entries(record)) if (key !== "allOf") visit(child, `${path}/${key}`);
    };
    visit(schema, "#");
    expect(open).toEqual([]);
  });
});
