/** The SVG charts of the benchmark suite (bench/_svg.ts): pure, checked on their text. */
import assert from "node:assert/strict";
import {
  axisRange,
  barChart,
  CHART_SERIES_MAX,
  escapeXml,
  lineChart,
  scale,
  tickLabel,
  ticks,
} from "../../bench/_svg.ts";

Deno.test("ticks() gives powers of ten on a log axis and 1/2/5 steps on a linear one", () => {
  assert.deepEqual(ticks(10, 1_000_000, true), [10, 100, 1_000, 10_000, 100_000, 1_000_000]);
  assert.deepEqual(ticks(0, 25, false), [0, 5, 10, 15, 20, 25]);
  assert.deepEqual(ticks(0, 1, false), [0, 0.2, 0.4, 0.6, 0.8, 1]);
});

Deno.test("tickLabel() shortens thousands, millions and billions", () => {
  assert.deepEqual([1, 1_500, 2_000_000, 3e9, 0.25].map(tickLabel), [
    "1",
    "1.5k",
    "2M",
    "3G",
    "0.25",
  ]);
});

Deno.test("axisRange() pads a log axis to powers of ten and starts a linear one at 0", () => {
  assert.deepEqual(axisRange([3, 4_500], { label: "", log: true }), [1, 10_000]);
  assert.deepEqual(axisRange([3, 23], { label: "" }), [0, 25]);
  assert.deepEqual(axisRange([], { label: "", log: true }), [1, 1]);
});

Deno.test("scale() maps the ends of an axis to the ends of the pixel range, log or not", () => {
  const log = scale(10, 1_000, 100, 300, true);
  assert.deepEqual([log(10), log(100), log(1_000)], [100, 200, 300]);
  const lin = scale(0, 10, 300, 100);
  assert.equal(lin(5), 200);
});

Deno.test("lineChart() draws axes, a polyline per series, bands and a legend, escaped", () => {
  const svg = lineChart({
    title: "rounds <vs> agents",
    x: { label: "agents", log: true },
    y: { label: "rounds" },
    series: [{ name: "ours & p50", points: [[10, 2], [1_000, 4], [1_000_000, 4]] }, {
      name: "Serf",
      points: [[10, 8], [1_000_000, 16]],
      dashed: true,
    }],
    bands: [{ name: "target", ranges: [{ x: 10, lo: 5, hi: 7 }] }],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.equal(svg.match(/<circle /g)?.length, 5);
  assert.match(svg, /rounds &#60;vs&#62; agents/);
  assert.match(svg, /ours &#38; p50/);
  assert.match(svg, /stroke-dasharray/);
  assert.match(svg, /fill-opacity="0.25"/);
  for (const label of ["10", "1k", "1M", "agents", "rounds", "target"]) {
    assert.ok(svg.includes(`>${label}</text>`), `missing label ${label}`);
  }
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
});

Deno.test("barChart() draws one bar per finite value and skips missing ones", () => {
  const svg = barChart({
    title: "p99",
    y: { label: "ms", log: true },
    groups: ["ours", "NATS", "Serf"],
    series: [{ name: "0 ms", values: [137, 6.3, 201] }, { name: "50 ms", values: [153, NaN, 432] }],
  });
  assert.equal(svg.match(/<rect x=/g)?.length, 5 + 2); // bars + legend boxes
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/);
});

Deno.test("lineChart() refuses more series than the legend holds", () => {
  const series = Array.from({ length: CHART_SERIES_MAX + 1 }, (_, i) => ({
    name: `s${i}`,
    points: [[1, i]] as [number, number][],
  }));
  assert.throws(
    () => lineChart({ title: "", x: { label: "" }, y: { label: "" }, series }),
    RangeError,
  );
});

Deno.test("escapeXml() escapes the five XML specials", () => {
  assert.equal(escapeXml(`<a href="x">&'`), "&#60;a href=&#34;x&#34;&#62;&#38;&#39;");
});
