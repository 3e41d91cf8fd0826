#!/usr/bin/env node
// Builds the native PoH addon at install. A machine without a C++ toolchain
// still installs: the core then uses its pure-JS PoH and says so at start-up.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("..", import.meta.url));
if (!existsSync(`${dir}/binding.gyp`)) process.exit(0);
const nodeGyp = `${dir}/node_modules/.bin/node-gyp`;
const result = spawnSync(existsSync(nodeGyp) ? nodeGyp : "node-gyp", ["rebuild"], {
  cwd: dir,
  stdio: "inherit",
});
if (result.status !== 0) {
  console.warn("@simd23/poh-native: native build failed; PoH falls back to pure JavaScript (slower).");
}
