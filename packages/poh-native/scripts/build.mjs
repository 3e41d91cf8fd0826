#!/usr/bin/env node
// Builds the native PoH addon at install. A machine without a C++ toolchain
// still installs: the core then uses its pure-JS PoH and says so at start-up.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("..", import.meta.url));
if (!existsSync(`${dir}/binding.gyp`)) process.exit(0);
const nodeGyp = `${dir}/node_modules/.bin/node-gyp`;
const args = ["rebuild", "--loglevel=warn"];
// Build against the headers installed beside this node (a distribution's
// node ships them under <prefix>/include/node) instead of downloading them.
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, "include", "node", "node_api.h"))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(existsSync(nodeGyp) ? nodeGyp : "node-gyp", args, { cwd: dir, stdio: "inherit" });
if (result.status !== 0) {
  console.warn(
    "@simd23/poh-native: native build failed; PoH falls back to pure JavaScript and the accounts lattice to WebAssembly (both slower).",
  );
}
