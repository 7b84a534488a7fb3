/**
 * Small SVG charts for docs/performance.md, drawn from benchmark results: a line chart (linear
 * or log axes, optional shaded bands) and a grouped bar chart. Pure: values in, SVG text out.
 * Every chart has axes with ticks, axis labels, a title and a legend.
 */

export const CHART_WIDTH_PX = 780;
export const CHART_HEIGHT_PX = 400;
/** Extra height of a bar chart, for its slanted category labels. */
const BAR_LABELS_PX = 120;
const MARGIN = { top: 56, right: 240, bottom: 56, left: 72 };
const COLORS = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#17becf",
  "#bcbd22",
];
/** Most points a series may have and still get a marker at each. */
const CHART_MARKERS_MAX = 60;
/** Most series or groups a chart draws (the legend has room for this many). */
export const CHART_SERIES_MAX = 12;

export interface Axis {
  readonly label: string;
  readonly log?: boolean;
  /** Range to show; default: the data's, padded (from 0 on a linear axis). */
  readonly min?: number;
  readonly max?: number;
}

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly dashed?: boolean;
}

/** A shaded vertical range at `x` (e.g. a target band), drawn as a bar behind the lines. */
export interface Band {
  readonly name: string;
  readonly ranges: readonly { readonly x: number; readonly lo: number; readonly hi: number }[];
}

export interface LineChart {
  readonly title: string;
  readonly x: Axis;
  readonly y: Axis;
  readonly series: readonly Series[];
  readonly bands?: readonly Band[];
  readonly note?: string;
}

export interface BarChart {
  readonly title: string;
  readonly y: Axis;
  /** Category labels along x. */
  readonly groups: readonly string[];
  /** One value per group (NaN: no bar). */
  readonly series: readonly { readonly name: string; readonly values: readonly number[] }[];
  readonly note?: string;
}

/** XML-escapes text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A number as a tick label: 1.5k, 2M, 0.25. */
export function tickLabel(v: number): string {
  const abs = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (abs >= 1e9) return `${trim(v / 1e9)}G`;
  if (abs >= 1e6) return `${trim(v / 1e6)}M`;
  if (abs >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

/** Tick values: powers of ten on a log axis, 1/2/5 steps on a linear one. */
export function ticks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
      const v = 10 ** e;
      if (v >= min * 0.999 && v <= max * 1.001) out.push(v);
    }
    return out;
  }
  const raw = (max - min) / 6;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** The axis range for `values`: padded to powers of ten (log) or from 0 to a round top. */
export function axisRange(values: readonly number[], axis: Axis): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  if (finite.length === 0) return [axis.min ?? (axis.log ? 1 : 0), axis.max ?? 1];
  const [lo, hi] = [Math.min(...finite), Math.max(...finite)];
  if (axis.log) {
    return [
      axis.min ?? 10 ** Math.floor(Math.log10(lo) + 1e-9),
      axis.max ?? 10 ** Math.ceil(Math.log10(hi) - 1e-9),
    ];
  }
  const t = ticks(0, hi > 0 ? hi : 1, false);
  const step = t.length > 1 ? t[1] - t[0] : hi || 1;
  const top = axis.max ?? (t.at(-1)! >= hi ? t.at(-1)! : t.at(-1)! + step);
  return [axis.min ?? Math.min(0, lo), Math.max(top, hi)];
}

/** Maps a value on an axis of [min, max] to pixels [from, to]. */
export function scale(min: number, max: number, from: number, to: number, log = false) {
  const f = log ? Math.log10 : (v: number) => v;
  const [a, b] = [f(min), f(max)];
  return (v: number) => from + (to - from) * ((f(v) - a) / (b - a || 1));
}

const r1 = (v: number) => Math.round(v * 10) / 10;

function frame(plot: Plot, title: string, note: string | undefined, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH_PX}" height="${plot.height}" ` +
    `viewBox="0 0 ${CHART_WIDTH_PX} ${plot.height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${CHART_WIDTH_PX / 2}" y="22" text-anchor="middle" font-size="15" ` +
    `font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    note === undefined ? "" : `<text x="${CHART_WIDTH_PX / 2}" y="40" text-anchor="middle" ` +
      `font-size="11" fill="#555">${escapeXml(note)}</text>`,
    `</svg>`,
  ].filter((line) => line !== "").join("\n") + "\n";
}

interface Plot {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
  readonly height: number;
}

function plotArea(height: number, labelsPx = 0): Plot {
  return {
    left: MARGIN.left,
    right: CHART_WIDTH_PX - MARGIN.right,
    top: MARGIN.top,
    bottom: height - MARGIN.bottom - labelsPx,
    height,
  };
}

/** Both axes, their ticks, grid lines and labels. */
function axes(
  plot: Plot,
  x: { ticks: { at: number; label: string }[]; label: string },
  y: { ticks: { at: number; label: string }[]; label: string },
): string[] {
  const out = [
    `<line x1="${plot.left}" y1="${plot.bottom}" x2="${plot.right}" y2="${plot.bottom}" stroke="#000"/>`,
    `<line x1="${plot.left}" y1="${plot.top}" x2="${plot.left}" y2="${plot.bottom}" stroke="#000"/>`,
  ];
  for (const t of x.ticks) {
    out.push(
      `<line x1="${r1(t.at)}" y1="${plot.bottom}" x2="${r1(t.at)}" y2="${
        plot.bottom + 5
      }" stroke="#000"/>`,
      `<text x="${r1(t.at)}" y="${plot.bottom + 18}" text-anchor="middle">${
        escapeXml(t.label)
      }</text>`,
    );
  }
  for (const t of y.ticks) {
    out.push(
      `<line x1="${plot.left}" y1="${r1(t.at)}" x2="${plot.right}" y2="${
        r1(t.at)
      }" stroke="#e5e5e5"/>`,
      `<line x1="${plot.left - 5}" y1="${r1(t.at)}" x2="${plot.left}" y2="${
        r1(t.at)
      }" stroke="#000"/>`,
      `<text x="${plot.left - 8}" y="${r1(t.at) + 4}" text-anchor="end">${
        escapeXml(t.label)
      }</text>`,
    );
  }
  const midY = (plot.top + plot.bottom) / 2;
  out.push(
    `<text x="${(plot.left + plot.right) / 2}" y="${plot.bottom + 38}" text-anchor="middle">${
      escapeXml(x.label)
    }</text>`,
    `<text x="18" y="${midY}" text-anchor="middle" transform="rotate(-90 18 ${midY})">${
      escapeXml(y.label)
    }</text>`,
  );
  return out;
}

type LegendEntry = { name: string; color: string; kind: "line" | "dashed" | "box" | "band" };

function legend(plot: Plot, entries: readonly LegendEntry[]): string[] {
  const x = plot.right + 16;
  return entries.flatMap((e, i) => {
    const y = plot.top + 8 + i * 20;
    const mark = e.kind === "box" || e.kind === "band"
      ? `<rect x="${x}" y="${y - 6}" width="18" height="10" fill="${e.color}"${
        e.kind === "band" ? ' fill-opacity="0.25"' : ""
      }/>`
      : `<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${e.color}" stroke-width="2"${
        e.kind === "dashed" ? ' stroke-dasharray="5 3"' : ""
      }/>`;
    return [mark, `<text x="${x + 24}" y="${y + 4}">${escapeXml(e.name)}</text>`];
  });
}

function assertSeries(count: number): void {
  if (count > CHART_SERIES_MAX) {
    throw new RangeError(`Cannot draw ${count} series: at most ${CHART_SERIES_MAX}`);
  }
}

/** A line chart with markers at each point; bands drawn behind as translucent bars. */
export function lineChart(chart: LineChart): string {
  const bands = chart.bands ?? [];
  assertSeries(chart.series.length + bands.length);
  const xs = chart.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = [
    ...chart.series.flatMap((s) => s.points.map((p) => p[1])),
    ...bands.flatMap((b) => b.ranges.flatMap((r) => [r.lo, r.hi])),
  ];
  const [x0, x1] = axisRange([...xs, ...bands.flatMap((b) => b.ranges.map((r) => r.x))], chart.x);
  const [y0, y1] = axisRange(ys, chart.y);
  const plot = plotArea(CHART_HEIGHT_PX);
  const sx = scale(x0, x1, plot.left, plot.right, chart.x.log);
  const sy = scale(y0, y1, plot.bottom, plot.top, chart.y.log);
  const body = axes(
    plot,
    {
      ticks: ticks(x0, x1, !!chart.x.log).map((v) => ({ at: sx(v), label: tickLabel(v) })),
      label: chart.x.label,
    },
    {
      ticks: ticks(y0, y1, !!chart.y.log).map((v) => ({ at: sy(v), label: tickLabel(v) })),
      label: chart.y.label,
    },
  );
  const entries: LegendEntry[] = [];
  bands.forEach((b, i) => {
    const color = COLORS[(chart.series.length + i) % COLORS.length];
    entries.push({ name: b.name, color, kind: "band" });
    for (const r of b.ranges) {
      const [top, bottom] = [sy(r.hi), sy(r.lo)];
      body.push(
        `<rect x="${r1(sx(r.x) - 9)}" y="${r1(top)}" width="18" height="${
          r1(Math.max(2, bottom - top))
        }" fill="${color}" fill-opacity="0.25"/>`,
      );
    }
  });
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    entries.unshift({ name: s.name, color, kind: s.dashed ? "dashed" : "line" });
    const pts = s.points.filter(([x, y]) =>
      Number.isFinite(x) && Number.isFinite(y) && (!chart.y.log || y > 0)
    );
    const path = pts.map(([x, y]) => `${r1(sx(x))},${r1(sy(y))}`).join(" ");
    body.push(
      `<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="5 3"' : ""
      }/>`,
      // Markers on sparse series only (a timeline of hundreds of samples is a line).
      ...pts.filter(() => pts.length <= CHART_MARKERS_MAX).map(([x, y]) =>
        `<circle cx="${r1(sx(x))}" cy="${r1(sy(y))}" r="3" fill="${color}"><title>${
          escapeXml(`${s.name}: ${tickLabel(x)} → ${y}`)
        }</title></circle>`
      ),
    );
  });
  const ordered = [
    ...entries.filter((e) => e.kind !== "band").reverse(),
    ...entries.filter((e) => e.kind === "band"),
  ];
  return frame(plot, chart.title, chart.note, [...body, ...legend(plot, ordered)]);
}

/** A grouped bar chart: one group per category, one bar per series in each. */
export function barChart(chart: BarChart): string {
  assertSeries(chart.series.length);
  const [y0, y1] = axisRange(chart.series.flatMap((s) => s.values), chart.y);
  const plot = plotArea(CHART_HEIGHT_PX + BAR_LABELS_PX, BAR_LABELS_PX - 36);
  const sy = scale(y0, y1, plot.bottom, plot.top, chart.y.log);
  const groupW = (plot.right - plot.left) / Math.max(1, chart.groups.length);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(1, chart.series.length));
  const body = axes(
    plot,
    { ticks: [], label: "" },
    {
      ticks: ticks(y0, y1, !!chart.y.log).map((v) => ({ at: sy(v), label: tickLabel(v) })),
      label: chart.y.label,
    },
  );
  chart.groups.forEach((g, gi) => {
    const cx = plot.left + groupW * (gi + 0.5);
    body.push(
      `<text x="${r1(cx)}" y="${plot.bottom + 14}" text-anchor="end" font-size="10" ` +
        `transform="rotate(-35 ${r1(cx)} ${plot.bottom + 14})">${escapeXml(g)}</text>`,
    );
    chart.series.forEach((s, si) => {
      const v = s.values[gi];
      if (!Number.isFinite(v) || (chart.y.log && v <= 0)) return;
      const x = cx - (barW * chart.series.length) / 2 + si * barW;
      const top = sy(v);
      const base = chart.y.log ? plot.bottom : sy(Math.max(0, y0));
      body.push(
        `<rect x="${r1(x)}" y="${r1(Math.min(top, base))}" width="${r1(barW - 1)}" height="${
          r1(Math.abs(base - top))
        }" fill="${COLORS[si % COLORS.length]}"><title>${
          escapeXml(`${g}, ${s.name}: ${v}`)
        }</title></rect>`,
      );
    });
  });
  const entries = chart.series.map((s, i): LegendEntry => ({
    name: s.name,
    color: COLORS[i % COLORS.length],
    kind: "box",
  }));
  return frame(plot, chart.title, chart.note, [...body, ...legend(plot, entries)]);
}
