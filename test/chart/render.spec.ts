import { describe, expect, it } from "vitest";
import { ciValues, find, helm, type Manifest, PINNED, render } from "./helm.js";
import { validateManifest } from "./kubernetes.js";

const ROLES = [
  { component: "proposer", kind: "Deployment" },
  { component: "leader", kind: "StatefulSet" },
  { component: "executor", kind: "StatefulSet" },
  { component: "vote-aggregator", kind: "Deployment" },
  { component: "bank-hash-verifier", kind: "Deployment" },
] as const;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}
interface Probe {
  grpc?: { port: number; service: string };
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: EnvVar[];
  readinessProbe: Probe;
  livenessProbe: Probe;
  startupProbe: Probe;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: { initContainers: Container[]; containers: Container[] };
}

function podTemplate(workload: Manifest): PodTemplate {
  return (workload.spec as { template: PodTemplate }).template;
}

function mainContainer(workload: Manifest): Container {
  const [container] = podTemplate(workload).spec.containers;
  if (!container) throw new Error(`${workload.metadata.name} has no container`);
  return container;
}

function env(container: Container, name: string): EnvVar {
  const variable = container.env.find((entry) => entry.name === name);
  if (!variable) throw new Error(`${container.name} has no ${name}`);
  return variable;
}

const cases: [string, string[]][] = [
  ["default values", []],
  ...[...ciValues()].map(([name, file]): [string, string[]] => [`ci/${name}-values.yaml`, ["-f", file]]),
];

describe("the chart with each values case", () => {
  it("has the values cases CI relies on", () => {
    expect([...ciValues().keys()]).toEqual(
      expect.arrayContaining(["minimal", "eight-proposers", "external"]),
    );
  });

  for (const [name, args] of cases) {
    describe(name, () => {
      it("passes helm lint --strict", () => {
        const result = helm(["lint", "--strict", "charts/testnet", ...args]);
        expect(result.stderr).toBe("");
        expect(result.stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
        expect(result.status).toBe(0);
      });

      it("renders only objects that validate against the Kubernetes API schemas", () => {
        const manifests = render(args);
        expect(manifests.length).toBeGreaterThan(10);
        for (const manifest of manifests) expect(() => validateManifest(manifest)).not.toThrow();
      });
    });
  }

  it("is refused by the API schema check when an object is wrong", () => {
    const deployment = find(render(PINNED), "Deployment", "testnet-proposer");
    const broken = { ...deployment, spec: { ...(deployment.spec as object), replicas: "three" } } as Manifest;
    expect(() => validateManifest(broken)).toThrow(
      "Deployment testnet-proposer: data/spec/replicas must be integer",
    );
  });
});

describe("the roles", () => {
  const manifests = render(PINNED);

  it.each(ROLES)(
    "runs $component as a $kind of the one image, labelled with its component",
    ({ component, kind }) => {
      const workload = find(manifests, kind, `testnet-${component}`);
      expect(workload.metadata.labels?.["app.kubernetes.io/component"]).toBe(component);
      expect(workload.metadata.labels?.["app.kubernetes.io/part-of"]).toBe("simd23");
      const template = podTemplate(workload);
      expect(template.metadata.labels["app.kubernetes.io/component"]).toBe(component);
      const container = mainContainer(workload);
      expect(container.image).toBe("simd23:0.1.0");
      expect(container.args).toEqual([component]);
    },
  );

  it.each(ROLES)("probes $component over grpc.health.v1 on the gRPC port", ({ component, kind }) => {
    const container = mainContainer(find(manifests, kind, `testnet-${component}`));
    expect(container.readinessProbe.grpc).toEqual({ port: 50051, service: "" });
    expect(container.livenessProbe.grpc).toEqual({ port: 50051, service: "liveness" });
    expect(container.startupProbe.grpc).toEqual({ port: 50051, service: "liveness" });
    expect(env(container, "SIMD23_GRPC_PORT").value).toBe("50051");
    expect(env(container, "SIMD23_METRICS_PORT").value).toBe("9464");
  });

  it.each(ROLES)("writes the genesis for $component in an init container", ({ component, kind }) => {
    const workload = find(manifests, kind, `testnet-${component}`);
    const [init] = podTemplate(workload).spec.initContainers;
    expect(init?.args).toEqual([
      "simd23",
      "genesis",
      "--params",
      "/etc/simd23/genesis-parameters/params.json",
      "--out",
      "/genesis/genesis.json",
    ]);
    expect(env(init as Container, "SIMD23_CLUSTER_SEED").valueFrom?.secretKeyRef).toEqual({
      name: "testnet-credentials",
      key: "cluster-seed",
    });
    const container = mainContainer(workload);
    expect(env(container, "SIMD23_GENESIS").value).toBe("/genesis/genesis.json");
    expect(container.volumeMounts).toContainEqual({ name: "genesis", mountPath: "/genesis", readOnly: true });
    expect(env(container, "SIMD23_NAMESPACE").valueFrom?.configMapKeyRef).toEqual({
      name: "testnet-genesis",
      key: "namespace",
    });
  });

  it("gives StatefulSet replicas their ordinal and headless Services", () => {
    for (const component of ["leader", "executor"]) {
      const workload = find(manifests, "StatefulSet", `testnet-${component}`);
      expect(env(mainContainer(workload), "SIMD23_REPLICA_ORDINAL").valueFrom?.fieldRef).toEqual({
        fieldPath: "metadata.name",
      });
      expect((workload.spec as { serviceName: string }).serviceName).toBe(`testnet-${component}`);
      const service = find(manifests, "Service", `testnet-${component}`);
      expect((service.spec as { clusterIP: string }).clusterIP).toBe("None");
    }
  });

  it("advertises each proposer's pod IP for forwarding and repair", () => {
    const proposer = mainContainer(find(manifests, "Deployment", "testnet-proposer"));
    expect(env(proposer, "POD_IP").valueFrom?.fieldRef).toEqual({ fieldPath: "status.podIP" });
    expect(env(proposer, "SIMD23_ADVERTISE_ADDRESS").value).toBe("$(POD_IP):50051");
  });

  it("sizes the genesis from the replica counts and the proposer pool", () => {
    const sized = render([
      ...PINNED,
      "--set",
      "executor.replicaCount=7",
      "--set",
      "leader.replicaCount=3",
      "--set",
      "proposer.poolSize=32",
    ]);
    const genesis = find(sized, "ConfigMap", "testnet-genesis");
    const data = genesis.data as Record<string, string>;
    expect(JSON.parse(data["params.json"] ?? "")).toEqual({
      clusterName: "testnet",
      mode: "async",
      validators: 7,
      leaders: 3,
      proposerPool: 32,
      stake: "1000000000000",
      faucetLamports: "1000000000000000",
      startTimeMs: 1767225600000,
      timing: {},
    });
    expect(data.namespace).toMatch(/^testnet-[0-9a-f]{8}$/);
    expect((find(sized, "StatefulSet", "testnet-executor").spec as { replicas: number }).replicas).toBe(7);
  });
});

describe("NATS and Redis", () => {
  it("bundles both with generated credentials that reach the roles only through a Secret", () => {
    const manifests = render();
    const secret = find(manifests, "Secret", "testnet-credentials");
    const data = secret.data as Record<string, string>;
    const decoded = (key: string) => Buffer.from(data[key] ?? "", "base64").toString("utf8");
    expect(decoded("cluster-seed")).toMatch(/^[0-9a-f]{64}$/);
    expect(decoded("nats-password")).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(decoded("redis-password")).toMatch(/^[A-Za-z0-9]{32}$/);

    const executor = mainContainer(find(manifests, "StatefulSet", "testnet-executor"));
    expect(env(executor, "SIMD23_NATS_URL").value).toBe(
      "nats://$(NATS_USER):$(NATS_PASSWORD)@testnet-nats:4222",
    );
    expect(env(executor, "NATS_PASSWORD").valueFrom?.secretKeyRef).toEqual({
      name: "testnet-credentials",
      key: "nats-password",
    });
    expect(env(executor, "SIMD23_REDIS_URL").value).toBe("redis://:$(REDIS_PASSWORD)@testnet-redis:6379");
    const rendered = JSON.stringify(manifests.filter((manifest) => manifest.kind !== "Secret"));
    for (const key of ["cluster-seed", "nats-password", "redis-password"])
      expect(rendered).not.toContain(decoded(key));

    const nats = find(manifests, "ConfigMap", "testnet-nats").data as Record<string, string>;
    expect(nats["nats.conf"]).toContain("jetstream {");
    expect(nats["nats.conf"]).toContain("password: $NATS_PASSWORD");
    const natsSet = find(manifests, "StatefulSet", "testnet-nats").spec as {
      volumeClaimTemplates?: unknown[];
    };
    expect(natsSet.volumeClaimTemplates).toHaveLength(1);
  });

  it("connects to external servers with credentials from existing Secrets", () => {
    const file = ciValues().get("external") as string;
    const manifests = render(["-f", file]);
    expect(manifests.some((manifest) => manifest.kind === "Secret")).toBe(false);
    expect(manifests.some((manifest) => manifest.metadata.name.endsWith("-nats"))).toBe(false);
    expect(manifests.some((manifest) => manifest.metadata.name.endsWith("-redis"))).toBe(false);
    const leader = mainContainer(find(manifests, "StatefulSet", "testnet-leader"));
    expect(env(leader, "NATS_USER").valueFrom?.secretKeyRef).toEqual({
      name: "simd23-nats",
      key: "username",
    });
    expect(env(leader, "SIMD23_NATS_URL").value).toBe(
      [0, 1, 2]
        .map((i) => `nats://$(NATS_USER):$(NATS_PASSWORD)@nats-${i}.nats.messaging.svc:4222`)
        .join(","),
    );
    expect(env(leader, "REDIS_PASSWORD").valueFrom?.secretKeyRef).toEqual({
      name: "simd23-redis",
      key: "password",
    });
    expect(env(leader, "SIMD23_REDIS_URL").value).toBe(
      "rediss://$(REDIS_USER):$(REDIS_PASSWORD)@redis.storage.svc:6380/2",
    );
    expect(env(leader, "SIMD23_CLUSTER_SEED").valueFrom?.secretKeyRef).toEqual({
      name: "simd23-seed",
      key: "cluster-seed",
    });
    const genesis = find(manifests, "ConfigMap", "testnet-genesis").data as Record<string, string>;
    expect(genesis.namespace).toBe("simd23-shared");
  });
});

describe("monitoring objects", () => {
  it("are not created by default, except the dashboards", () => {
    const kinds = render(PINNED).map((manifest) => manifest.kind);
    expect(kinds).not.toContain("ServiceMonitor");
    expect(kinds).not.toContain("PrometheusRule");
  });

  it("label the dashboard ConfigMaps for the Grafana sidecar, each with a datasource variable", () => {
    const dashboards = render([...PINNED, "--set", "grafana.dashboards.labelValue=simd23"]).filter(
      (manifest) => manifest.metadata.name.startsWith("testnet-dashboard-"),
    );
    expect(dashboards.map((manifest) => manifest.metadata.name).sort()).toEqual([
      "testnet-dashboard-leader",
      "testnet-dashboard-overview",
      "testnet-dashboard-proposers",
      "testnet-dashboard-validators",
    ]);
    for (const manifest of dashboards) {
      expect(manifest.metadata.labels?.grafana_dashboard).toBe("simd23");
      const [json] = Object.values(manifest.data as Record<string, string>);
      const dashboard = JSON.parse(json ?? "") as { templating: { list: { name: string; type: string }[] } };
      expect(dashboard.templating.list).toContainEqual(
        expect.objectContaining({ name: "datasource", type: "datasource" }),
      );
    }
  });

  it("scrape every role's metrics port, labelled with the testnet and the role", () => {
    const monitor = find(
      render([...PINNED, "--set", "metrics.serviceMonitor.enabled=true"]),
      "ServiceMonitor",
      "testnet",
    );
    const spec = monitor.spec as {
      selector: { matchExpressions: { key: string; values: string[] }[] };
      endpoints: { port: string; relabelings: { targetLabel: string }[] }[];
    };
    expect(spec.selector.matchExpressions[0]?.values.sort()).toEqual(
      ROLES.map((role) => role.component).sort(),
    );
    expect(spec.endpoints[0]?.port).toBe("metrics");
    expect(spec.endpoints[0]?.relabelings.map((relabeling) => relabeling.targetLabel)).toEqual([
      "testnet",
      "role",
    ]);
  });
});
