import assert from "node:assert/strict";
import { type LinkPeer, statusLinks } from "../../src/status/links.ts";
import {
  changeKey,
  type MeshStatusBase,
  meshStatusDocument,
  type StatusFigures,
} from "../../src/status/document.ts";
import { ThroughputMeter } from "../../src/status/throughput.ts";

const ORDER = ["eu-1", "eu-2", "us-1"];
const FRESH_MS = 1_000;

function peer(id: string, p: Partial<LinkPeer> = {}): LinkPeer {
  return { id, health: "up", summaryAgeMs: 100, reaches: ORDER, ...p };
}

Deno.test("statusLinks() lists every pair once, in topology order, own links measured", () => {
  const links = statusLinks(ORDER, "eu-2", [
    peer("eu-1", { health: "suspect" }),
    peer("us-1", { health: "not monitored" }),
  ], FRESH_MS);
  assert.deepEqual(links, [
    { a: "eu-1", b: "eu-2", state: "suspect", basis: "measured", by: "eu-2" },
    { a: "eu-1", b: "us-1", state: "up", basis: "reported", by: "eu-1" },
    { a: "eu-2", b: "us-1", state: "not monitored", basis: "none", by: null },
  ]);
});

Deno.test("statusLinks() takes a link between two peers from the fresher of their summaries", () => {
  // us-1's last summary (50 ms old) says it does not reach eu-1; eu-1's is older.
  const links = statusLinks(ORDER, "eu-2", [
    peer("eu-1", { health: "down", summaryAgeMs: 400 }),
    peer("us-1", { summaryAgeMs: 50, reaches: ["eu-2", "us-1"] }),
  ], FRESH_MS);
  assert.deepEqual(links[1], {
    a: "eu-1",
    b: "us-1",
    state: "down",
    basis: "reported",
    by: "us-1",
  });
  // After the heal eu-1's fresh summary reaches us-1 again, and us-1's is the older one.
  const healed = statusLinks(ORDER, "eu-2", [
    peer("eu-1", { summaryAgeMs: 30 }),
    peer("us-1", { summaryAgeMs: 900, reaches: ["eu-2", "us-1"] }),
  ], FRESH_MS);
  assert.equal(healed[1].state, "up");
  assert.equal(healed[1].by, "eu-1");
});

Deno.test("statusLinks() says unknown when neither end has a fresh summary, or a peer is missing", () => {
  const links = statusLinks(ORDER, "eu-2", [
    peer("eu-1", { summaryAgeMs: FRESH_MS + 1 }),
    peer("us-1", { summaryAgeMs: null, reaches: null }),
  ], FRESH_MS);
  assert.deepEqual(links[1], { a: "eu-1", b: "us-1", state: "unknown", basis: "none", by: null });
  const missing = statusLinks(ORDER, "eu-2", [peer("eu-1")], FRESH_MS);
  assert.equal(missing[2].state, "unknown");
  assert.deepEqual(statusLinks(["solo"], "solo", [], FRESH_MS), []);
});

function base(peers: MeshStatusBase["peers"]): MeshStatusBase {
  return {
    region: "eu-2",
    zone: "eu",
    partition: "majority",
    reachable: ORDER,
    fingerprint: "F",
    leader: { holder: "eu-2-a", epoch: 3 },
    peers,
  };
}

const row = (id: string, r: Partial<MeshStatusBase["peers"][number]> = {}) => ({
  id,
  zone: id.slice(0, 2),
  health: "up" as const,
  reachable: true,
  summaryAgeMs: 100,
  fingerprint: "F",
  reaches: ORDER,
  ...r,
});

const FIGURES: StatusFigures = {
  nowMs: 1_000,
  store: "memory",
  zones: [{ id: "eu", regions: ["eu-1", "eu-2"] }, { id: "us", regions: ["us-1"] }],
  reportFreshMs: FRESH_MS,
  lag: (p) => p === "eu-1" ? { count: 1, p50Ms: 5, p90Ms: 5, p99Ms: 5, maxMs: 5 } : null,
  throughput: new ThroughputMeter().figures(1_000),
  coordination: {
    agents: 2,
    agentsMore: false,
    topics: 1,
    topicsMore: false,
    topicSubscribers: 0,
    statusStreams: 1,
  },
};

Deno.test("meshStatusDocument() compares fingerprints with fresh summaries only, and keeps the mesh's members", () => {
  const doc = meshStatusDocument(
    base([row("eu-1"), row("us-1", { fingerprint: "G" })]),
    FIGURES,
  );
  assert.deepEqual(doc.fingerprints, { agree: false, differing: ["us-1"], unknown: [] });
  assert.deepEqual(doc.peers.map((p) => p.fingerprintAgrees), [true, false]);
  assert.deepEqual(doc.peers[0].lag, { count: 1, p50Ms: 5, p90Ms: 5, p99Ms: 5, maxMs: 5 });
  assert.equal(doc.peers[1].lag, null);
  assert.equal(doc.leader!.epoch, 3);
  assert.equal(doc.links.length, 3);
  const stale = meshStatusDocument(
    base([row("eu-1"), row("us-1", { fingerprint: "G", summaryAgeMs: 5_000 })]),
    FIGURES,
  );
  assert.deepEqual(stale.fingerprints, { agree: true, differing: [], unknown: ["us-1"] });
  const none = meshStatusDocument(base([row("eu-1", { summaryAgeMs: null })]), FIGURES);
  assert.equal(none.fingerprints.agree, null);
});

Deno.test("changeKey() moves with health, links and partition, not with ages, phi or counts", () => {
  const doc = meshStatusDocument(base([row("eu-1"), row("us-1")]), FIGURES);
  const same = meshStatusDocument(
    base([row("eu-1", { summaryAgeMs: 300 }), row("us-1", { summaryAgeMs: 600 })]),
    { ...FIGURES, nowMs: 2_000 },
  );
  assert.equal(changeKey(doc), changeKey(same));
  const down = meshStatusDocument(base([row("eu-1", { health: "down" }), row("us-1")]), FIGURES);
  assert.notEqual(changeKey(doc), changeKey(down));
  const minority = meshStatusDocument({ ...base([row("eu-1")]), partition: "minority" }, FIGURES);
  assert.notEqual(changeKey(meshStatusDocument(base([row("eu-1")]), FIGURES)), changeKey(minority));
});

Deno.test("statusLinks() counts a summary while younger than reportFreshMs, as the partition view does", () => {
  const at = (ageMs: number) =>
    statusLinks(ORDER, "eu-2", [
      peer("eu-1", { health: "not monitored", summaryAgeMs: ageMs }),
      peer("us-1", { health: "not monitored", summaryAgeMs: null }),
    ], FRESH_MS)[1];
  assert.equal(at(FRESH_MS - 1).basis, "reported");
  assert.equal(at(FRESH_MS).basis, "none", "a summary exactly reportFreshMs old is not fresh");
});
