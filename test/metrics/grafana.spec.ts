import { describe, expect, it } from "vitest";
import {
  builtinVariables,
  defaultOption,
  grafanaIntervals,
  parseLabelValuesQuery,
  promDuration,
  relativeSeconds,
  substitute,
} from "./grafana.js";

describe("Grafana's interval variables", () => {
  it("never go below the scrape interval, and a rate interval spans four scrapes", () => {
    expect(grafanaIntervals(1_800, 1, 1_000)).toEqual({
      intervalSeconds: 2,
      rateIntervalSeconds: 4,
      rangeSeconds: 1_800,
    });
    expect(grafanaIntervals(60, 15, 1_000)).toEqual({
      intervalSeconds: 15,
      rateIntervalSeconds: 60,
      rangeSeconds: 60,
    });
    expect(grafanaIntervals(86_400, 1, 1_000).rateIntervalSeconds).toBe(88);
  });

  it("are written as Prometheus durations", () => {
    expect(builtinVariables({ intervalSeconds: 2, rateIntervalSeconds: 4, rangeSeconds: 1_800 })).toEqual({
      __interval: "2s",
      __interval_ms: "2000",
      __rate_interval: "4s",
      __range: "30m",
      __range_s: "1800",
      __range_ms: "1800000",
    });
    expect([1, 60, 90, 3_600, 86_400, 604_800].map(promDuration)).toEqual([
      "1s",
      "1m",
      "90s",
      "1h",
      "1d",
      "1w",
    ]);
  });

  it("read a dashboard's relative time", () => {
    expect(relativeSeconds("now-30m")).toBe(1_800);
    expect(relativeSeconds("now-6h")).toBe(21_600);
    expect(() => relativeSeconds("2026-01-01")).toThrow('unsupported dashboard time "2026-01-01"');
  });
});

describe("substitute", () => {
  const values = { namespace: "devnet-1", testnet: "devnet-1", __rate_interval: "4s" };

  it("replaces $name, the braced form and [[name]]", () => {
    expect(
      substitute(
        `sum(rate(x_total{namespace=~"$namespace", testnet=~"\${testnet}"}[$__rate_interval]))`,
        values,
      ),
    ).toBe('sum(rate(x_total{namespace=~"devnet-1", testnet=~"devnet-1"}[4s]))');
    expect(substitute("x{pod=~'[[namespace]]'}", values)).toBe("x{pod=~'devnet-1'}");
  });

  it("names a variable it has no value for", () => {
    expect(() => substitute('x{pod=~"$pod"}', values)).toThrow(
      'no value for the Grafana variable $pod in: x{pod=~"$pod"}',
    );
  });
});

describe("variable queries", () => {
  it("reads label_values with and without a series selector", () => {
    expect(parseLabelValuesQuery("label_values(simd23_executor_slot, namespace)")).toEqual({
      label: "namespace",
      match: "simd23_executor_slot",
    });
    expect(parseLabelValuesQuery('label_values(simd23_executor_slot{namespace=~"a,b"}, testnet)')).toEqual({
      label: "testnet",
      match: 'simd23_executor_slot{namespace=~"a,b"}',
    });
    expect(parseLabelValuesQuery("label_values(testnet)")).toEqual({ label: "testnet" });
    expect(() => parseLabelValuesQuery("query_result(up)")).toThrow("unsupported variable query");
  });

  it("default to the first option in the variable's sort order", () => {
    expect(defaultOption(["b", "a", "c"], 0)).toBe("b");
    expect(defaultOption(["b", "a", "c"], 1)).toBe("a");
    expect(defaultOption(["b", "a", "c"], 2)).toBe("c");
    expect(defaultOption(["10", "9"], 3)).toBe("9");
    expect(defaultOption([], 1)).toBeUndefined();
  });
});
