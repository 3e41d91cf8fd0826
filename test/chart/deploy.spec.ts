import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "./helm.js";

const ROLES = ["proposer", "leader", "executor", "vote-aggregator", "bank-hash-verifier"];
const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");

describe("deploy/entrypoint.sh", () => {
  // A stand-in for node on the PATH that prints what it was asked to run and the variables the
  // entrypoint sets, so the script runs exactly as in the image without the image.
  const bin = mkdtempSync(join(tmpdir(), "simd23-entrypoint-"));
  writeFileSync(
    join(bin, "node"),
    '#!/bin/sh\necho "node $*"\necho "seed=$SIMD23_CLUSTER_SEED seedFile=$SIMD23_CLUSTER_SEED_FILE advertise=$SIMD23_ADVERTISE_ADDRESS"\n',
  );
  chmodSync(join(bin, "node"), 0o755);
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync("sh", [join(repoRoot, "deploy/entrypoint.sh"), ...args], {
      encoding: "utf8",
      env: { PATH: `${bin}:/usr/bin:/bin`, ...env },
    });

  it.each(ROLES)("runs the %s role's main module with the remaining arguments", (role) => {
    const result = run([role, "--flag"]);
    expect(result.status).toBe(0);
    expect(result.stdout.split("\n")[0]).toBe(`node /app/services/${role}/dist/main.js --flag`);
  });

  it("runs the CLI for simd23", () => {
    const result = run(["simd23", "genesis", "--help"]);
    expect(result.stdout.split("\n")[0]).toBe("node /app/packages/client/dist/cli/main.js genesis --help");
  });

  it("refuses an unknown role with its usage", () => {
    const result = run(["validator"]);
    expect(result.status).toBe(64);
    expect(result.stderr).toContain("unknown role: validator");
    expect(result.stderr).toContain("roles: proposer, leader, executor, vote-aggregator, bank-hash-verifier");
  });

  it("reads the cluster seed from SIMD23_CLUSTER_SEED_FILE and passes the file name on to no role", () => {
    const seedFile = join(bin, "seed");
    writeFileSync(seedFile, "ab".repeat(32));
    const result = run(["leader"], { SIMD23_CLUSTER_SEED_FILE: seedFile });
    expect(result.stdout).toContain(`seed=${"ab".repeat(32)} seedFile= `);
  });

  it("keeps an advertised address that is set and fills one in for proposers only", () => {
    expect(run(["proposer"], { SIMD23_ADVERTISE_ADDRESS: "10.0.0.7:50051" }).stdout).toContain(
      "advertise=10.0.0.7:50051",
    );
    const own = spawnSync("hostname", ["-I"], { encoding: "utf8" }).stdout.trim().split(" ")[0] ?? "";
    const expected = own === "" ? "" : `${own.includes(":") ? `[${own}]` : own}:6000`;
    expect(run(["proposer"], { SIMD23_GRPC_PORT: "6000" }).stdout).toContain(`advertise=${expected}\n`);
    expect(run(["executor"]).stdout).toMatch(/advertise=$/m);
  });
});

describe("deploy/Dockerfile", () => {
  const dockerfile = read("deploy/Dockerfile");

  it("installs the pnpm version of package.json", () => {
    const { packageManager } = JSON.parse(read("package.json")) as { packageManager: string };
    expect(dockerfile).toContain(`ARG PNPM_VERSION=${packageManager.replace("pnpm@", "")}`);
  });

  it("builds the CLI and every role the entrypoint runs", () => {
    const build = /RUN pnpm exec tsc -b ([^\n]*\n[^\n]*)/.exec(dockerfile)?.[1] ?? "";
    expect(build.split(/[\s\\]+/).filter(Boolean)).toEqual([
      "packages/client",
      ...ROLES.map((role) => `services/${role}`),
    ]);
    expect(read("deploy/entrypoint.sh")).toContain(`  ${ROLES.join(" | ")})`);
  });

  it("keeps the native PoH addon the loader looks for", () => {
    const loader = read("packages/poh-native/src/index.ts");
    expect(loader).toContain('"../build/Release/poh_native.node"');
    expect(dockerfile).toContain("test -f packages/poh-native/build/Release/poh_native.node");
    expect(dockerfile).toContain("mv /tmp/poh_native.node packages/poh-native/build/Release/");
  });

  it("runs as the uid the chart's pods run as", () => {
    const values = parse(read("charts/testnet/values.yaml")) as { podSecurityContext: { runAsUser: number } };
    expect(dockerfile).toContain(`USER ${values.podSecurityContext.runAsUser}:`);
  });
});

describe("deploy/compose.yaml", () => {
  const compose = parse(read("deploy/compose.yaml"), { merge: true }) as {
    services: Record<
      string,
      {
        image?: string;
        command?: string[];
        environment?: Record<string, string>;
        depends_on?: Record<string, { condition: string }>;
        deploy?: { replicas: number };
      }
    >;
    configs: Record<string, { content: string }>;
  };
  const roleServices = Object.entries(compose.services).filter(
    ([name]) => !["nats", "redis", "genesis"].includes(name),
  );

  it("runs NATS with JetStream, Redis and the genesis job", () => {
    expect(compose.configs.nats?.content).toContain("jetstream {");
    expect(compose.services.redis?.command).toContain("--requirepass");
    expect(compose.services.genesis?.command?.[0]).toContain("simd23 genesis --params");
  });

  it("runs 4 executors with ordinals 0 to 3, 1 leader, 3 proposers, the aggregator and the verifier", () => {
    const byRole = new Map<string, number>();
    for (const [, service] of roleServices) {
      const role = service.command?.[0] ?? "";
      byRole.set(role, (byRole.get(role) ?? 0) + (service.deploy?.replicas ?? 1));
    }
    expect(Object.fromEntries(byRole)).toEqual({
      executor: 4,
      leader: 1,
      proposer: 3,
      "vote-aggregator": 1,
      "bank-hash-verifier": 1,
    });
    expect(
      [0, 1, 2, 3].map((i) => compose.services[`executor-${i}`]?.environment?.SIMD23_REPLICA_ORDINAL),
    ).toEqual(["0", "1", "2", "3"]);
  });

  it("starts every role from the image after the genesis, NATS and Redis", () => {
    for (const [name, service] of roleServices) {
      expect(service.image, name).toBe(compose.services.genesis?.image);
      expect(service.depends_on, name).toEqual({
        genesis: { condition: "service_completed_successfully" },
        nats: { condition: "service_healthy" },
        redis: { condition: "service_healthy" },
      });
      expect(service.environment?.SIMD23_GENESIS, name).toBe("/genesis/genesis.json");
    }
  });
});
