#!/usr/bin/env node
// Lints proto/, checks it for breaking changes against main, and generates the
// TypeScript wire format into packages/proto/src/gen. With --check it fails
// when the committed generated code differs from what the protos generate.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const protoDir = join(root, "proto");
const genDir = join(root, "packages/proto/src/gen");
const buf = join(root, "node_modules/.bin/buf");
const check = process.argv.includes("--check");

function run(args, cwd = protoDir) {
  execFileSync(buf, args, { cwd, stdio: "inherit" });
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => relative(dir, path))
    .sort();
}

function mainHasProtos() {
  try {
    execFileSync("git", ["cat-file", "-e", "main:proto/buf.yaml"], { cwd: root, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

run(["lint"]);
if (mainHasProtos()) {
  run(["breaking", "--against", `${join(root, ".git")}#branch=main,subdir=proto`]);
}

const out = mkdtempSync(join(tmpdir(), "simd23-proto-"));
try {
  run(["generate", "--template", "buf.gen.yaml", "-o", out]);
  const generated = join(out, "gen");
  if (check) {
    const want = listFiles(generated);
    const have = listFiles(genDir);
    const stale = want.filter(
      (file) =>
        !have.includes(file) ||
        readFileSync(join(generated, file), "utf8") !== readFileSync(join(genDir, file), "utf8"),
    );
    const extra = have.filter((file) => !want.includes(file));
    if (stale.length > 0 || extra.length > 0) {
      console.error(
        "Generated code in packages/proto/src/gen is stale; run `pnpm proto:gen` and commit the result.",
      );
      for (const file of [...stale, ...extra]) console.error(`  ${file}`);
      process.exit(1);
    }
    console.log("proto: lint, breaking and generated code are up to date");
  } else {
    rmSync(genDir, { recursive: true, force: true });
    cpSync(generated, genDir, { recursive: true });
    console.log(`proto: generated ${listFiles(genDir).length} files into ${relative(root, genDir)}`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
