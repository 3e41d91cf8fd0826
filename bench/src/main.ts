import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Figure, formatFigure, machine, type Suite } from "./harness.js";

// Every module in suites/ default-exports a Suite; `pnpm bench poh bus` runs
// only the suites whose names are given.
const suitesDir = fileURLToPath(new URL("./suites/", import.meta.url));
const only = process.argv.slice(2);

const suites: Suite[] = [];
for (const file of readdirSync(suitesDir)
  .filter((f) => f.endsWith(".js"))
  .sort()) {
  const suite = ((await import(new URL(`./suites/${file}`, import.meta.url).href)) as { default: Suite })
    .default;
  if (only.length === 0 || only.includes(suite.name)) suites.push(suite);
}

const started = new Date();
const lines = [`# simd23 benchmarks, ${started.toISOString()}`, "", `Machine: ${machine()}`, ""];
console.log(lines.join("\n"));
for (const suite of suites) {
  console.log(`## ${suite.name}\n${suite.description}\n`);
  const figures: Figure[] = await suite.run();
  lines.push(`## ${suite.name}`, "", suite.description, "");
  for (const figure of figures) {
    const line = `- ${formatFigure(figure)}${figure.note ? ` (${figure.note})` : ""}`;
    console.log(line);
    lines.push(line);
  }
  console.log("");
  lines.push("");
}
const resultsDir = fileURLToPath(new URL("../results/", import.meta.url));
mkdirSync(resultsDir, { recursive: true });
const file = `${resultsDir}${started.toISOString().slice(0, 10)}.md`;
writeFileSync(file, `${lines.join("\n")}\n`);
console.log(`report written to ${file}`);
