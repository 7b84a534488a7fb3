// The two live charts of the status page, drawn with uPlot (served by the region at
// /assets/uplot.min.js, which sets the global `uPlot`). Throughput is the document's own
// per-second series (the last 60 s, whole each time); lag percentiles are appended per snapshot,
// one point per second, and kept for LAG_POINTS_MAX points.

const LAG_POINTS_MAX = 300;
const HEIGHT = 220;
const PALETTE = ["#2f6fde", "#d9480f", "#0c8599", "#9c36b5", "#5c940d", "#c2255c", "#495057"];

function width(container) {
  return Math.max(280, container.clientWidth);
}

function unavailable(container) {
  container.textContent = "Charts unavailable: uPlot did not load.";
}

function resizeWith(container, plot) {
  new ResizeObserver(() => plot.setSize({ width: width(container), height: HEIGHT }))
    .observe(container);
}

export class ThroughputChart {
  #container;
  #plot = null;

  constructor(container) {
    this.#container = container;
  }

  update(doc) {
    if (globalThis.uPlot === undefined) return unavailable(this.#container);
    const t = doc.throughput;
    const xs = t.agents.map((_, i) => t.fromMs / 1000 + i);
    const data = [xs, t.agents, t.peers];
    if (this.#plot === null) {
      this.#plot = new globalThis.uPlot(
        {
          width: width(this.#container),
          height: HEIGHT,
          series: [
            {},
            { label: "from agents", stroke: PALETTE[0], width: 2, fill: "rgba(47,111,222,0.08)" },
            { label: "from peers", stroke: PALETTE[1], width: 2 },
          ],
          axes: [{}, { label: "deltas / s", size: 60 }],
          legend: { live: false },
          scales: { y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.15)] } },
        },
        data,
        this.#container,
      );
      resizeWith(this.#container, this.#plot);
    } else {
      this.#plot.setData(data);
    }
  }
}

export class LagChart {
  #container;
  #plot = null;
  #peers = "";
  #xs = [];
  /** Per peer: [p50 series, p99 series]. */
  #series = new Map();

  constructor(container) {
    this.#container = container;
  }

  update(doc) {
    if (globalThis.uPlot === undefined) return unavailable(this.#container);
    const peers = (doc.peers ?? []).map((p) => p.id);
    if (peers.join(",") !== this.#peers) this.#reset(peers);
    const x = Math.floor(doc.generatedAtMs / 1000);
    if (this.#xs.length > 0 && this.#xs[this.#xs.length - 1] === x) return; // one a second
    this.#xs.push(x);
    for (const peer of doc.peers ?? []) {
      const [p50, p99] = this.#series.get(peer.id);
      p50.push(peer.lag === null ? null : peer.lag.p50Ms);
      p99.push(peer.lag === null ? null : peer.lag.p99Ms);
    }
    if (this.#xs.length > LAG_POINTS_MAX) {
      this.#xs.shift();
      for (const [p50, p99] of this.#series.values()) {
        p50.shift();
        p99.shift();
      }
    }
    this.#plot?.setData([this.#xs, ...[...this.#series.values()].flat()]);
  }

  #reset(peers) {
    this.#peers = peers.join(",");
    this.#xs = [];
    this.#series = new Map(peers.map((id) => [id, [[], []]]));
    this.#plot?.destroy();
    this.#container.replaceChildren();
    if (peers.length === 0) {
      this.#plot = null;
      this.#container.textContent = "A standalone region has no peers to measure lag from.";
      return;
    }
    const series = [{}];
    peers.forEach((id, i) => {
      const stroke = PALETTE[i % PALETTE.length];
      series.push({ label: `${id} p50`, stroke, width: 2, spanGaps: true });
      series.push({ label: `${id} p99`, stroke, width: 1.5, dash: [6, 4], spanGaps: true });
    });
    this.#plot = new globalThis.uPlot(
      {
        width: width(this.#container),
        height: HEIGHT,
        series,
        axes: [{}, { label: "ms", size: 60 }],
        legend: { live: false },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(50, (max ?? 0) * 1.15)] } },
      },
      [[], ...series.slice(1).map(() => [])],
      this.#container,
    );
    resizeWith(this.#container, this.#plot);
  }
}
