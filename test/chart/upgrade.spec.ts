import { describe, expect, it } from "vitest";
import { find, type Manifest, PINNED, render } from "./helm.js";

const key = (manifest: Manifest) => `${manifest.kind}/${manifest.metadata.name}`;

/** The paths (a.b.0.c) at which two JSON values differ. */
function differences(before: unknown, after: unknown, path = ""): string[] {
  if (before === after) return [];
  if (typeof before !== "object" || typeof after !== "object" || before === null || after === null)
    return [path];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].flatMap((name) =>
    differences(
      (before as Record<string, unknown>)[name],
      (after as Record<string, unknown>)[name],
      path ? `${path}.${name}` : name,
    ),
  );
}

/** Every changed field between two renders, as "Kind/name: path". */
function changes(before: readonly Manifest[], after: readonly Manifest[]): string[] {
  const byKey = new Map(after.map((manifest) => [key(manifest), manifest]));
  const changed = before.flatMap((manifest) =>
    differences(manifest, byKey.get(key(manifest))).map((path) => `${key(manifest)}: ${path}`),
  );
  const added = after.filter((manifest) => !before.some((old) => key(old) === key(manifest))).map(key);
  return [...changed, ...added.map((name) => `${name}: added`)];
}

const WORKLOADS = [
  "Deployment/testnet-proposer",
  "StatefulSet/testnet-leader",
  "StatefulSet/testnet-executor",
  "Deployment/testnet-vote-aggregator",
  "Deployment/testnet-bank-hash-verifier",
];

function genesisInputs(manifests: readonly Manifest[], workload: string): string | undefined {
  const [kind = "", name = ""] = workload.split("/");
  const spec = find(manifests, kind, name).spec as {
    template: { metadata: { annotations: Record<string, string> } };
  };
  return spec.template.metadata.annotations["simd23.io/genesis-inputs"];
}

describe("helm upgrade", () => {
  it("from 3 to 8 proposers changes only the proposer Deployment's replicas", () => {
    const three = render([...PINNED, "--set", "proposer.replicaCount=3"]);
    const eight = render([...PINNED, "--set", "proposer.replicaCount=8"]);
    expect(changes(three, eight)).toEqual(["Deployment/testnet-proposer: spec.replicas"]);
    expect((find(eight, "Deployment", "testnet-proposer").spec as { replicas: number }).replicas).toBe(8);
  });

  it("confines what a render generates (the seed, passwords, start time) to what upgrades look up and keep", () => {
    const first = render();
    const second = render();
    const changed = new Set(changes(first, second).map((change) => change.slice(0, change.indexOf(":"))));
    const kept = new Set(["Secret/testnet-credentials", "ConfigMap/testnet-genesis"]);
    expect([...changed].filter((name) => !kept.has(name))).toEqual([]);
    expect(changed.has("Secret/testnet-credentials")).toBe(true);
  });

  it("to a new validator count starts a new genesis: every role restarts on a new namespace", () => {
    const four = render(PINNED);
    const five = render([...PINNED, "--set", "executor.replicaCount=5"]);
    for (const workload of WORKLOADS) {
      expect(genesisInputs(five, workload), workload).not.toBe(genesisInputs(four, workload));
    }
    const namespace = (manifests: readonly Manifest[]) =>
      (find(manifests, "ConfigMap", "testnet-genesis").data as Record<string, string>).namespace;
    expect(namespace(five)).not.toBe(namespace(four));
  });
});
