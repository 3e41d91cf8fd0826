import { describe, expect, it } from "vitest";
import { CliError } from "./errors.js";
import { parseDuration } from "./input.js";

describe("parseDuration", () => {
  it("reads plain seconds and the ms, s, m and h units", () => {
    expect(parseDuration("20", "--duration")).toBe(20);
    expect(parseDuration("20s", "--duration")).toBe(20);
    expect(parseDuration("1.5s", "--duration")).toBe(1.5);
    expect(parseDuration("500ms", "--duration")).toBe(0.5);
    expect(parseDuration("2m", "--duration")).toBe(120);
    expect(parseDuration("1h", "--duration")).toBe(3600);
  });

  it("refuses anything else with a one-line error naming the option", () => {
    for (const bad of ["", "0", "0s", "-1", "20x", "s", "1e3", " 20"]) {
      expect(() => parseDuration(bad, "--duration")).toThrow(CliError);
    }
    expect(() => parseDuration("fast", "--duration")).toThrow(
      '--duration: expected a duration such as 20, 20s, 500ms or 2m, got "fast"',
    );
  });
});
