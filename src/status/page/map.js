// The map of the status page: zones as columns, regions as nodes, and every link between two
// regions coloured by its state (the document's `links`). Built once per layout, then only the
// classes and tooltips change, so a hover survives the next snapshot. No innerHTML: every text
// goes through textContent.

const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const ZONE_TOP = 34;
const NODE_GAP = 92;
const NODE_RADIUS = 20;

function el(name, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (parent !== null) parent.appendChild(node);
  return node;
}

/** The CSS class of a state: `not monitored` → `state-not-monitored`. */
export function stateClass(state) {
  return `state-${String(state).replace(/\s+/g, "-")}`;
}

/**
 * Zones (columns) and node positions for the document's zones. Labels go on the outer side of
 * each node (left in the left half, right in the right half), where no link to another zone
 * passes; links within a zone curve the other way.
 */
function layout(doc) {
  const zones = doc.zones.length > 0
    ? doc.zones
    : [{ id: doc.zone ?? "standalone", regions: [doc.region] }];
  const rows = Math.max(...zones.map((z) => z.regions.length));
  const height = ZONE_TOP + 40 + rows * NODE_GAP;
  const columnWidth = WIDTH / zones.length;
  const positions = new Map();
  const boxes = zones.map((zone, i) => {
    const outer = zones.length > 1 && i < zones.length / 2 ? -1 : 1; // -1: labels on the left
    const share = zones.length === 1 ? 0.4 : outer < 0 ? 0.64 : 0.36;
    const x = i * columnWidth + columnWidth * share;
    const top = ZONE_TOP + 30 + (rows - zone.regions.length) * NODE_GAP / 2;
    zone.regions.forEach((id, j) =>
      positions.set(id, { x, y: top + j * NODE_GAP + NODE_GAP / 2, outer })
    );
    return { id: zone.id, x: i * columnWidth + 10, width: columnWidth - 20 };
  });
  return { zones, boxes, positions, height };
}

/** The path of a link: straight across zones, a curve within one, bulging away from labels. */
function linkPath(a, b, sameZone) {
  if (!sameZone) return `M ${a.x} ${a.y} L ${b.x} ${b.y}`;
  const bend = 30 + Math.abs(b.y - a.y) / 6;
  const cx = a.x - a.outer * bend, cy = (a.y + b.y) / 2;
  return `M ${a.x} ${a.y} Q ${cx} ${cy} ${b.x} ${b.y}`;
}

function layoutKey(doc) {
  return JSON.stringify([doc.region, doc.zones, doc.links.map((l) => [l.a, l.b])]);
}

function build(svg, doc) {
  svg.replaceChildren();
  const { zones, boxes, positions, height } = layout(doc);
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${height}`);
  const zoneOf = new Map(zones.flatMap((z) => z.regions.map((r) => [r, z.id])));
  for (const box of boxes) {
    el("rect", {
      class: "zone",
      x: box.x,
      y: ZONE_TOP,
      width: box.width,
      height: height - ZONE_TOP - 8,
      rx: 12,
    }, svg);
    el("text", { class: "zone-label", x: box.x + 12, y: ZONE_TOP + 20 }, svg)
      .textContent = `zone ${box.id}`;
  }
  const links = el("g", { class: "links" }, svg);
  const parts = { links: new Map(), nodes: new Map() };
  for (const link of doc.links) {
    const a = positions.get(link.a), b = positions.get(link.b);
    if (a === undefined || b === undefined) continue;
    const path = el("path", {
      class: "link",
      d: linkPath(a, b, zoneOf.get(link.a) === zoneOf.get(link.b)),
      "data-link": `${link.a}|${link.b}`,
    }, links);
    el("title", {}, path);
    parts.links.set(`${link.a}|${link.b}`, path);
  }
  for (const [id, at] of positions) {
    const group = el("g", { class: "node", "data-region": id }, svg);
    el("circle", { cx: at.x, cy: at.y, r: NODE_RADIUS }, group);
    const label = {
      x: at.x + at.outer * (NODE_RADIUS + 8),
      "text-anchor": at.outer < 0 ? "end" : "start",
    };
    el("text", { class: "node-label", ...label, y: at.y - 2 }, group).textContent = id;
    el("text", { class: "node-note", ...label, y: at.y + 14 }, group);
    el("title", {}, group);
    parts.nodes.set(id, group);
  }
  const banner = el("text", { class: "map-banner", x: 12, y: 20 }, svg);
  return { ...parts, banner };
}

function describeLink(link) {
  const source = link.basis === "measured"
    ? `measured by ${link.by}`
    : link.basis === "reported"
    ? `reported by ${link.by}`
    : "no reading";
  return `${link.a} — ${link.b}: ${link.state} (${source})`;
}

function nodeNote(doc, id, peer) {
  if (id === doc.region) return "this region";
  return peer === undefined ? "" : peer.health;
}

/** Draws `doc` into `svg` (an <svg> element), reusing what was built for the same layout. */
export function renderMap(svg, doc) {
  const key = layoutKey(doc);
  if (svg.__meshKey !== key) {
    svg.__meshParts = build(svg, doc);
    svg.__meshKey = key;
  }
  const parts = svg.__meshParts;
  for (const link of doc.links) {
    const path = parts.links.get(`${link.a}|${link.b}`);
    if (path === undefined) continue;
    path.setAttribute("class", `link ${stateClass(link.state)} basis-${link.basis}`);
    path.setAttribute("data-state", link.state);
    path.firstChild.textContent = describeLink(link);
  }
  const peers = new Map((doc.peers ?? []).map((p) => [p.id, p]));
  const reachable = new Set(doc.reachable ?? [doc.region]);
  const minority = doc.partition === "minority";
  for (const [id, group] of parts.nodes) {
    const self = id === doc.region;
    const classes = ["node"];
    if (self) classes.push("self");
    if (!reachable.has(id)) classes.push("unreachable");
    if (self && minority) classes.push("minority");
    group.setAttribute("class", classes.join(" "));
    group.setAttribute("data-reachable", String(reachable.has(id)));
    const note = nodeNote(doc, id, peers.get(id));
    group.querySelector(".node-note").textContent = note;
    group.querySelector("title").textContent = `${id}: ${note || "—"}${
      reachable.has(id) ? "" : " · unreachable"
    }`;
  }
  parts.banner.textContent = minority
    ? `${doc.region} is in a MINORITY partition: it reaches ${reachable.size} of ${parts.nodes.size}`
    : "";
}
