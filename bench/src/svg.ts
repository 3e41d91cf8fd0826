// Small SVG charts drawn from the bench's own measurements: grouped bars and line charts on
// linear or logarithmic axes, composed side by side into one self-contained file (no scripts, no
// fonts or styles fetched from anywhere).

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface Scale {
  (value: number): number;
  readonly ticks: readonly number[];
}

const FONT = "font-family='Helvetica, Arial, sans-serif'";
const MARGIN = { left: 64, right: 16, top: 34, bottom: 44 } as const;
const LEGEND_ROW = 15;
const LEGEND_COLUMNS = 2;

export function escapeXml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

const round = (value: number) => Math.round(value * 10) / 10;

/** Ticks at 1, 2 and 5 times powers of ten covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let tick = Math.ceil(min / step) * step; tick <= max + step * 1e-9; tick += step)
    ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

/** A linear scale from [min, max] onto [from, to] (to may be below from: SVG's y grows downwards). */
export function linearScale(min: number, max: number, from: number, to: number): Scale {
  const span = max - min || 1;
  const scale = (value: number) => from + ((value - min) / span) * (to - from);
  return Object.assign(scale, { ticks: niceTicks(min, max) });
}

/** A log10 scale; ticks at every power of ten in range. */
export function logScale(min: number, max: number, from: number, to: number): Scale {
  const low = Math.floor(Math.log10(min));
  const high = Math.ceil(Math.log10(max));
  const scale = (value: number) =>
    from + ((Math.log10(Math.max(value, 10 ** low)) - low) / (high - low || 1)) * (to - from);
  const ticks = Array.from({ length: high - low + 1 }, (_, i) => 10 ** (low + i));
  return Object.assign(scale, { ticks });
}

export function formatTick(value: number): string {
  if (value >= 1e6) return `${value / 1e6}M`;
  if (value >= 1e3) return `${value / 1e3}k`;
  return String(Number(value.toPrecision(3)));
}

/** A measured value on a chart: three significant digits at most. */
export function formatLabel(value: number): string {
  if (value >= 1e6) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (value >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

interface TextStyle {
  readonly anchor?: "start" | "middle" | "end";
  readonly size?: number;
  readonly bold?: boolean;
  readonly fill?: string;
  /** Degrees, around the text's own position. */
  readonly rotate?: number;
}

function text(x: number, y: number, content: string, style: TextStyle = {}): string {
  const attributes = [
    `x='${round(x)}'`,
    `y='${round(y)}'`,
    FONT,
    `font-size='${style.size ?? 11}'`,
    ...(style.anchor ? [`text-anchor='${style.anchor}'`] : []),
    ...(style.bold ? ["font-weight='bold'"] : []),
    ...(style.fill ? [`fill='${style.fill}'`] : []),
    ...(style.rotate ? [`transform='rotate(${style.rotate} ${round(x)} ${round(y)})'`] : []),
  ];
  return `<text ${attributes.join(" ")}>${escapeXml(content)}</text>`;
}

function frame(box: Box, area: Area, title: string, xLabel: string, yLabel: string): string[] {
  const middleY = (area.top + area.bottom) / 2;
  return [
    text(box.x + box.width / 2, box.y + 16, title, { anchor: "middle", size: 13, bold: true }),
    text((area.left + area.right) / 2, area.bottom + 34, xLabel, { anchor: "middle" }),
    text(box.x + 14, middleY, yLabel, { anchor: "middle", rotate: -90 }),
  ];
}

function yAxis(area: Area, scale: Scale): string[] {
  return scale.ticks.flatMap((tick) => {
    const y = round(scale(tick));
    return [
      `<line x1='${area.left}' y1='${y}' x2='${area.right}' y2='${y}' stroke='#ddd'/>`,
      text(area.left - 6, y + 4, formatTick(tick), { anchor: "end" }),
    ];
  });
}

interface Area {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

/** The plot inside a box, leaving room for the title, the axes' labels and a legend of `entries` below. */
function plotArea(box: Box, entries: number): Area {
  const legendRows = Math.ceil(entries / LEGEND_COLUMNS);
  return {
    left: box.x + MARGIN.left,
    right: box.x + box.width - MARGIN.right,
    top: box.y + MARGIN.top,
    bottom: box.y + box.height - MARGIN.bottom - legendRows * LEGEND_ROW,
  };
}

/** The legend under the x axis's label, LEGEND_COLUMNS entries a row. */
function legend(area: Area, entries: readonly { name: string; color: string; dash?: string }[]): string[] {
  const columnWidth = (area.right - area.left) / LEGEND_COLUMNS;
  return entries.flatMap((entry, i) => {
    const y = area.bottom + 50 + Math.floor(i / LEGEND_COLUMNS) * LEGEND_ROW;
    const x = area.left + (i % LEGEND_COLUMNS) * columnWidth;
    return [
      `<line x1='${round(x)}' y1='${y}' x2='${round(x + 18)}' y2='${y}' stroke='${entry.color}' stroke-width='3'${entry.dash ? ` stroke-dasharray='${entry.dash}'` : ""}/>`,
      text(x + 23, y + 4, entry.name),
    ];
  });
}

export interface BarSeries {
  readonly name: string;
  readonly color: string;
  /** One value per group; null draws nothing. */
  readonly values: readonly (number | null)[];
  /** An upper whisker per group (e.g. p99 over a p50 bar). */
  readonly whiskers?: readonly (number | null)[];
}

export interface BarChart {
  readonly title: string;
  readonly groups: readonly string[];
  readonly series: readonly BarSeries[];
  readonly yLabel: string;
  readonly xLabel?: string;
  readonly logY?: boolean;
}

function valuesOf(series: readonly BarSeries[]): number[] {
  return series
    .flatMap((s) => [...s.values, ...(s.whiskers ?? [])])
    .filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
}

/** Grouped bars, each with an optional whisker, on a linear or log y axis. */
export function drawBarChart(chart: BarChart, box: Box): string {
  const area = plotArea(box, chart.series.length);
  const values = valuesOf(chart.series);
  const max = Math.max(1, ...values);
  const y = chart.logY
    ? logScale(Math.max(1e-9, Math.min(...values, max)), max, area.bottom, area.top)
    : linearScale(0, niceTicks(0, max).at(-1) ?? max, area.bottom, area.top);
  const groupWidth = (area.right - area.left) / Math.max(1, chart.groups.length);
  const barWidth = (groupWidth * 0.7) / Math.max(1, chart.series.length);
  const parts = [...frame(box, area, chart.title, chart.xLabel ?? "", chart.yLabel), ...yAxis(area, y)];
  const baseline = chart.logY ? area.bottom : y(0);
  chart.groups.forEach((group, g) => {
    const groupLeft = area.left + g * groupWidth + groupWidth * 0.15;
    parts.push(text(area.left + (g + 0.5) * groupWidth, area.bottom + 16, group, { anchor: "middle" }));
    chart.series.forEach((series, s) => {
      const value = series.values[g];
      if (value === null || value === undefined || !Number.isFinite(value)) return;
      const x = groupLeft + s * barWidth;
      const top = y(value);
      parts.push(
        `<rect x='${round(x)}' y='${round(top)}' width='${round(barWidth - 2)}' height='${round(Math.max(0, baseline - top))}' fill='${series.color}'><title>${escapeXml(`${series.name}, ${group}: ${formatLabel(value)}`)}</title></rect>`,
        text(x + (barWidth - 2) / 2, top - 3, formatLabel(value), { anchor: "middle", size: 9 }),
      );
      const whisker = series.whiskers?.[g];
      if (whisker !== null && whisker !== undefined && Number.isFinite(whisker) && whisker > value) {
        const middle = round(x + (barWidth - 2) / 2);
        const whiskerTop = round(y(whisker));
        parts.push(
          `<line x1='${middle}' y1='${round(top)}' x2='${middle}' y2='${whiskerTop}' stroke='#333'/>`,
          `<line x1='${middle - 4}' y1='${whiskerTop}' x2='${middle + 4}' y2='${whiskerTop}' stroke='#333'/>`,
        );
      }
    });
  });
  parts.push(...legend(area, chart.series));
  return parts.join("\n");
}

export interface LineSeries {
  readonly name: string;
  readonly color: string;
  readonly dash?: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  /** Ticks on x where the measurements were taken (default: nice ticks). */
  readonly xTicks?: readonly number[];
  readonly logX?: boolean;
  readonly logY?: boolean;
}

/** Lines with a dot at every measured point, on linear or log axes. */
export function drawLineChart(chart: LineChart, box: Box): string {
  const area = plotArea(box, chart.series.length);
  const xs = chart.series.flatMap((s) => s.points.map(([x]) => x));
  const ys = chart.series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => Number.isFinite(v));
  const positiveYs = ys.filter((v) => v > 0);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const yMax = Math.max(1e-9, ...ys);
  const x = chart.logX
    ? logScale(Math.max(1e-9, xMin), xMax, area.left, area.right)
    : linearScale(xMin, xMax, area.left, area.right);
  const y = chart.logY
    ? logScale(Math.max(1e-9, Math.min(...positiveYs, yMax)), yMax, area.bottom, area.top)
    : linearScale(0, niceTicks(0, yMax).at(-1) ?? yMax, area.bottom, area.top);
  const parts = [...frame(box, area, chart.title, chart.xLabel, chart.yLabel), ...yAxis(area, y)];
  for (const tick of chart.xTicks ?? x.ticks) {
    const position = round(x(tick));
    parts.push(
      `<line x1='${position}' y1='${area.bottom}' x2='${position}' y2='${area.bottom + 4}' stroke='#333'/>`,
      text(position, area.bottom + 16, formatTick(tick), { anchor: "middle" }),
    );
  }
  parts.push(
    `<line x1='${area.left}' y1='${area.bottom}' x2='${area.right}' y2='${area.bottom}' stroke='#333'/>`,
  );
  for (const series of chart.series) {
    const points = series.points.filter(([, v]) => Number.isFinite(v) && (!chart.logY || v > 0));
    if (points.length === 0) continue;
    const path = points
      .map(([px, py], i) => `${i === 0 ? "M" : "L"}${round(x(px))},${round(y(py))}`)
      .join(" ");
    parts.push(
      `<path d='${path}' fill='none' stroke='${series.color}' stroke-width='2'${series.dash ? ` stroke-dasharray='${series.dash}'` : ""}/>`,
      ...points.map(
        ([px, py]) =>
          `<circle cx='${round(x(px))}' cy='${round(y(py))}' r='3' fill='${series.color}'><title>${escapeXml(`${series.name}: ${formatLabel(px)} → ${formatLabel(py)}`)}</title></circle>`,
      ),
    );
  }
  parts.push(...legend(area, chart.series));
  return parts.join("\n");
}

export type Panel =
  | { readonly kind: "bars"; readonly chart: BarChart }
  | { readonly kind: "lines"; readonly chart: LineChart };

/** One SVG document with the panels side by side, each panelWidth × panelHeight. */
export function svgDocument(
  title: string,
  panels: readonly Panel[],
  panelWidth = 460,
  panelHeight = 340,
  caption?: string,
): string {
  const headerHeight = 28;
  const footerHeight = caption ? 22 : 0;
  const width = panelWidth * panels.length;
  const height = panelHeight + headerHeight + footerHeight;
  const body = panels.map((panel, i) => {
    const box = { x: i * panelWidth, y: headerHeight, width: panelWidth, height: panelHeight };
    return panel.kind === "bars" ? drawBarChart(panel.chart, box) : drawLineChart(panel.chart, box);
  });
  return [
    `<svg xmlns='http://www.w3.org/2000/svg' width='${width}' height='${height}' viewBox='0 0 ${width} ${height}'>`,
    `<rect width='${width}' height='${height}' fill='white'/>`,
    text(width / 2, 19, title, { anchor: "middle", size: 15, bold: true }),
    ...body,
    ...(caption ? [text(8, height - 7, caption, { size: 10, fill: "#555" })] : []),
    "</svg>",
    "",
  ].join("\n");
}
