#!/usr/bin/env node
// Builds charts/testnet/README.md from README.template.md and the `# --` comments of values.yaml
// (the helm-docs convention), with each value's type from values.schema.json and its default from
// values.yaml. It refuses a values.yaml in which a key has no `# --` comment (keys inside a
// documented value whose children carry no comments of their own, such as `resources`, belong to
// that value), or in which a documented key is missing from the schema.
//   node scripts/chart-readme.mjs           write README.md
//   node scripts/chart-readme.mjs --check   fail when README.md is not what it would write
//   node scripts/chart-readme.mjs --stdout  print what it would write
// The result goes through Biome's formatter, which `pnpm lint` applies to Markdown as well.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const chartDir = join(root, "charts/testnet");
const { parse: parseYaml } = createRequire(join(root, "test/package.json"))("yaml");

const DOC = /^(\s*)# -- ?(.*)$/;
const CONTINUATION = /^(\s*)#(?! --) ?(.*)$/;
const KEY = /^(\s*)([A-Za-z0-9_.-]+):(?:\s|$)/;

/** Every documented key of values.yaml, in file order: its path and its description. */
function documentedKeys(text) {
  const entries = [];
  const stack = [];
  let pending = null;
  for (const line of text.split("\n")) {
    const doc = DOC.exec(line);
    if (doc) {
      pending = { indent: doc[1].length, text: [doc[2].trim()] };
      continue;
    }
    const continuation = CONTINUATION.exec(line);
    if (continuation && pending && continuation[1].length === pending.indent) {
      pending.text.push(continuation[2].trim());
      continue;
    }
    const key = KEY.exec(line);
    if (!key) {
      if (line.trim() === "" || line.trim().startsWith("#")) pending = null;
      continue;
    }
    const indent = key[1].length;
    while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
    stack.push({ indent, key: key[2] });
    const path = stack.map((entry) => entry.key);
    if (pending && pending.indent === indent) {
      entries.push({ path, description: pending.text.join(" ").trim() });
    }
    pending = null;
  }
  return entries;
}

function valueAt(values, path) {
  return path.reduce((node, key) => (node === undefined || node === null ? undefined : node[key]), values);
}

function resolve(schema, node) {
  let current = node;
  while (current?.$ref) {
    const name = current.$ref.replace("#/definitions/", "");
    current = schema.definitions[name];
  }
  return current;
}

function schemaAt(schema, path) {
  let node = schema;
  for (const key of path) {
    node = resolve(schema, node)?.properties?.[key];
    if (node === undefined) return undefined;
  }
  return resolve(schema, node);
}

function typeOf(node) {
  if (node.type) return Array.isArray(node.type) ? node.type.join(" or ") : node.type;
  if (node.enum) return [...new Set(node.enum.map((value) => typeof value))].join(" or ");
  return "any";
}

const cell = (text) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function build() {
  const valuesText = readFileSync(join(chartDir, "values.yaml"), "utf8");
  const values = parseYaml(valuesText);
  const schema = JSON.parse(readFileSync(join(chartDir, "values.schema.json"), "utf8"));
  const chart = parseYaml(readFileSync(join(chartDir, "Chart.yaml"), "utf8"));
  const template = readFileSync(join(chartDir, "README.template.md"), "utf8");

  const entries = documentedKeys(valuesText);
  const documented = new Set(entries.map((entry) => entry.path.join(".")));
  const problems = [];

  // A documented map is a section when any child is documented (then all must be), else one value.
  const isSection = (path) => {
    const value = valueAt(values, path);
    if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
    return Object.keys(value).some((key) => documented.has([...path, key].join(".")));
  };
  const walk = (node, path) => {
    for (const key of Object.keys(node)) {
      const childPath = [...path, key];
      if (!documented.has(childPath.join("."))) {
        problems.push(`values.yaml: ${childPath.join(".")} has no "# --" comment`);
        continue;
      }
      if (isSection(childPath)) walk(node[key], childPath);
    }
  };
  walk(values, []);

  const rows = entries.map(({ path, description }) => {
    const name = path.join(".");
    const node = schemaAt(schema, path);
    if (!node) problems.push(`values.schema.json has no property for ${name}`);
    const section = isSection(path);
    return {
      group: path[0],
      line: `| \`${name}\` | ${node ? typeOf(node) : "?"} | ${
        section ? "" : `\`${cell(JSON.stringify(valueAt(values, path)))}\``
      } | ${cell(description)} |`,
      description,
      topLevel: path.length === 1,
      section,
    };
  });
  if (problems.length > 0) throw new Error(`cannot document the chart:\n  ${problems.join("\n  ")}`);

  const header = "| Key | Type | Default | Description |\n|---|---|---|---|";
  const general = rows.filter((row) => row.topLevel && !row.section);
  const sections = rows.filter((row) => row.topLevel && row.section);
  const parts = [`### General\n\n${header}\n${general.map((row) => row.line).join("\n")}`];
  for (const section of sections) {
    const lines = rows.filter((row) => row.group === section.group && !row.topLevel).map((row) => row.line);
    parts.push(`### \`${section.group}\`\n\n${section.description}\n\n${header}\n${lines.join("\n")}`);
  }

  return template
    .replaceAll("{{ version }}", chart.version)
    .replaceAll("{{ appVersion }}", chart.appVersion)
    .replaceAll("{{ kubeVersion }}", chart.kubeVersion)
    .replaceAll("{{ description }}", chart.description)
    .replace("{{ values }}", parts.join("\n\n"));
}

/** The text as Biome formats the file at `path` (tables aligned), so `biome check` accepts it. */
function formatted(text, path) {
  const result = spawnSync(join(root, "node_modules/.bin/biome"), ["format", `--stdin-file-path=${path}`], {
    input: text,
    encoding: "utf8",
  });
  if (result.status !== 0) throw new Error(`biome format failed: ${result.error?.message ?? result.stderr}`);
  return result.stdout;
}

const target = join(chartDir, "README.md");
const readme = formatted(build(), target);
if (process.argv.includes("--stdout")) {
  process.stdout.write(readme);
} else if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(target, "utf8");
  } catch {
    // A missing README is stale.
  }
  if (committed !== readme) {
    process.stderr.write(`${target} is not what scripts/chart-readme.mjs writes: run it\n`);
    process.exit(1);
  }
} else {
  writeFileSync(target, readme);
}
