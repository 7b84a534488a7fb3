// The status page: one EventSource on /v1/status/stream, and each snapshot drawn whole — the
// header badges, the map (map.js), the figures, the charts (charts.js) and the peer table.
// Served by the region with a Content-Security-Policy that allows only its own scripts and
// styles, so everything here is set through the DOM (textContent, classList), never as HTML.
import { LagChart, ThroughputChart } from "./charts.js";
import { renderMap, stateClass } from "./map.js";

/** A snapshot older than this is stale (the stream sends one at least every second), in ms. */
const STALE_MS = 3_000;
/** Wait before opening a new stream after the region refused or closed one, in ms. */
const REOPEN_MS = 5_000;

/**
 * How long fingerprints may differ while nothing is being written before the page calls it a
 * divergence, in ms. While deltas flow (or wait in an outbox), a peer's summary is always a
 * little behind: that is "in flight", not a fault.
 */
const DIVERGED_MS = 10_000;

const $ = (id) => document.getElementById(id);
/** When each peer's fingerprint was first seen to differ, in ms (page clock). */
const differingSince = new Map();
const throughput = new ThroughputChart($("throughput-chart"));
const lag = new LagChart($("lag-chart"));
let lastSnapshotAt = 0;

function badge(id, text, tone) {
  const node = $(id);
  node.textContent = text;
  node.className = `badge badge-${tone}`;
}

function number(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en");
}

function ms(value) {
  if (value === null || value === undefined) return "—";
  return value < 10_000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

function cell(row, text, className = "") {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderHeader(doc) {
  $("region").textContent = doc.region;
  $("zone").textContent = doc.zone ? `in zone ${doc.zone}` : "(standalone)";
  $("store").textContent = `store ${doc.store}`;
  document.title = `${doc.region} · mesh status`;
  if (doc.mesh === null) {
    badge("partition", "standalone", "wait");
    badge("leader", "no mesh", "wait");
    return;
  }
  const minority = doc.partition === "minority";
  badge(
    "partition",
    `${doc.partition} · reaches ${doc.reachable.length}/${
      doc.zones.flatMap((z) => z.regions).length
    }`,
    minority ? "bad" : "ok",
  );
  badge(
    "leader",
    doc.leader === null
      ? "no leader"
      : `leader ${doc.leader.holder} · epoch ${doc.leader.epoch}${
        doc.leader.self ? " (this instance)" : ""
      }`,
    doc.leader === null ? "warn" : "ok",
  );
}

/** Per peer: `agree`, `in flight`, `diverged` or `unknown`, from this and earlier snapshots. */
function fingerprintVerdicts(doc) {
  const now = Date.now();
  const flowing = doc.throughput.deltasPerSecond > 0 ||
    (doc.peers ?? []).some((p) => (p.outboxDepth ?? 0) > 0);
  const verdicts = new Map();
  for (const p of doc.peers ?? []) {
    if (p.fingerprintAgrees !== false) {
      differingSince.delete(p.id);
      verdicts.set(p.id, p.fingerprintAgrees === null ? "unknown" : "agree");
      continue;
    }
    if (!differingSince.has(p.id)) differingSince.set(p.id, now);
    const young = now - differingSince.get(p.id) < DIVERGED_MS;
    verdicts.set(p.id, flowing || young ? "in flight" : "diverged");
  }
  return verdicts;
}

const VERDICT_CLASS = {
  agree: "agree-yes",
  "in flight": "agree-flight",
  diverged: "agree-no",
  unknown: "agree-unknown",
};

function renderFingerprints(doc, verdicts) {
  const node = $("fig-fingerprints");
  const of = (verdict) => [...verdicts].filter(([, v]) => v === verdict).map(([id]) => id);
  const [diverged, flight] = [of("diverged"), of("in flight")];
  if (diverged.length > 0) {
    node.textContent = `differ: ${diverged.join(", ")}`;
    node.className = VERDICT_CLASS.diverged;
  } else if (flight.length > 0) {
    node.textContent = `in flight: ${flight.join(", ")}`;
    node.className = VERDICT_CLASS["in flight"];
  } else {
    node.textContent = doc.fingerprints.agree === null ? "not compared" : "agree";
    node.className = doc.fingerprints.agree === null ? "agree-unknown" : "agree-yes";
  }
}

function renderFigures(doc, verdicts) {
  const t = doc.throughput;
  $("fig-rate").textContent = `${t.deltasPerSecond}`;
  $("fig-rate").title = `${t.agentsPerSecond}/s from agents, ${t.peersPerSecond}/s from peers`;
  $("fig-deltas").textContent = number(doc.deltas);
  renderFingerprints(doc, verdicts);
  const outbox = (doc.peers ?? []).reduce((n, p) => n + (p.outboxDepth ?? 0), 0);
  $("fig-outbox").textContent = doc.mesh === null ? "—" : number(outbox);
  const c = doc.coordination;
  $("fig-agents").textContent = `${number(c.agents)}${c.agentsMore ? "+" : ""}`;
  $("fig-topics").textContent = `${number(c.topics)}${c.topicsMore ? "+" : ""}`;
  $("fig-subscribers").textContent = number(c.topicSubscribers);
  $("fig-streams").textContent = number(c.statusStreams);
}

function renderPeers(doc, verdicts) {
  const body = $("peers").tBodies[0];
  body.replaceChildren();
  for (const p of doc.peers ?? []) {
    const row = body.insertRow();
    row.dataset.region = p.id;
    cell(row, p.id, "mono");
    cell(row, p.zone);
    const health = document.createElement("span");
    health.className = `health ${stateClass(p.health)}`;
    health.textContent = p.health;
    row.insertCell().appendChild(health);
    cell(row, p.phi === null ? "—" : p.phi.toFixed(2), "num");
    cell(row, p.target ? ms(p.lastSeenAgoMs) : ms(p.summaryAgeMs), "num");
    cell(row, p.reachable ? "yes" : "no", p.reachable ? "agree-yes" : "agree-no");
    cell(row, number(p.outboxDepth), "num");
    cell(row, number(p.fanOutFailures), "num");
    cell(row, p.lag === null ? "—" : `${ms(p.lag.p50Ms)} / ${ms(p.lag.p99Ms)}`, "num");
    const fp = p.fingerprint === null ? "—" : p.fingerprint.slice(0, 10);
    const verdict = verdicts.get(p.id);
    const mark = { agree: "✓", "in flight": "…", diverged: "✗", unknown: "?" }[verdict];
    cell(row, `${fp} ${mark}`, `mono ${VERDICT_CLASS[verdict]}`).title = verdict;
    cell(row, number(p.epoch), "num");
  }
  if ((doc.peers ?? []).length === 0) {
    const row = body.insertRow();
    const td = cell(row, "A standalone region has no peers.");
    td.colSpan = 11;
  }
}

function render(doc) {
  lastSnapshotAt = Date.now();
  $("alert").hidden = true;
  badge("connection", "live", "ok");
  renderHeader(doc);
  renderMap($("map"), doc);
  $("map-note").textContent = `as seen from ${doc.region}`;
  const verdicts = fingerprintVerdicts(doc);
  renderFigures(doc, verdicts);
  renderPeers(doc, verdicts);
  throughput.update(doc);
  lag.update(doc);
  const at = new Date(doc.generatedAtMs);
  $("updated").textContent = at.toLocaleTimeString();
  $("updated").dateTime = at.toISOString();
  document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots ?? 0) + 1);
}

function alertText(text) {
  $("alert").textContent = text;
  $("alert").hidden = false;
}

function connect() {
  const source = new EventSource("/v1/status/stream");
  source.addEventListener("snapshot", (event) => render(JSON.parse(event.data)));
  source.addEventListener("unavailable", (event) => {
    alertText(`Status unavailable: ${JSON.parse(event.data).detail}`);
  });
  source.addEventListener("error", () => {
    badge("connection", "reconnecting", "warn");
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. 429: too many streams) or not a stream: try again later ourselves.
      setTimeout(connect, REOPEN_MS);
    }
  });
}

setInterval(() => {
  if (lastSnapshotAt !== 0 && Date.now() - lastSnapshotAt > STALE_MS) {
    badge("connection", "stale", "bad");
    alertText(`No snapshot for ${Math.round((Date.now() - lastSnapshotAt) / 1000)} s`);
  }
}, 1_000);

connect();
