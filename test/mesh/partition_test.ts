import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import {
  type DirectObservation,
  exchangeTargets,
  partitionOptions,
  partitionView,
  type PeerSummary,
  SUMMARY_FRESH_MS_DEFAULT,
  zoneLeaders,
} from "../../src/mesh/partition.ts";
import { Topology } from "../../src/mesh/topology.ts";

const NOW_MS = 1_700_000_000_000;
/** A phi well past the default threshold of 8. */
const SUSPECT_PHI = 20;

/** A topology from `{ zone: [region, …] }`, in that order, with distinct valid keys. */
function topology(zones: Record<string, string[]>): Topology {
  let n = 0;
  return Topology.parse(JSON.stringify({
    v: 1,
    zones: Object.entries(zones).map(([id, regions]) => ({
      id,
      regions: regions.map((region) => ({
        id: region,
        url: `http://${region}.test`,
        publicKey: encodeBase64Url(new Uint8Array(32).fill(++n)),
      })),
    })),
  }));
}

/** Detector readings: `up` peers heard just now, `down` peers silent for long. */
function seen(up: string[], down: string[] = []): Map<string, DirectObservation> {
  return new Map<string, DirectObservation>([
    ...up.map((id): [string, DirectObservation] => [id, { phi: 0.1, lastSeenMs: NOW_MS - 100 }]),
    ...down.map((id): [string, DirectObservation] => [id, {
      phi: SUSPECT_PHI,
      lastSeenMs: NOW_MS - 5_000,
    }]),
  ]);
}

/** Summaries received `ageMs` ago: `{ peer: [regions it reaches] }`. */
function heard(reports: Record<string, string[]>, ageMs = 100): Map<string, PeerSummary> {
  return new Map(
    Object.entries(reports).map((
      [id, reachable],
    ) => [id, { receivedAtMs: NOW_MS - ageMs, epoch: 1, reachable }]),
  );
}

const sorted = (ids: Iterable<string>) => [...ids].sort();
const ids = (regions: { id: string }[]) => regions.map((r) => r.id);

const THREE = topology({ z1: ["a"], z2: ["b", "c"] });
const FIVE = topology({ z1: ["a1", "a2", "a3"], z2: ["b1", "b2"] });

Deno.test("partitionView() puts A of {A} | {B, C} in the minority and B and C in the majority", () => {
  // A leads z1 and monitored b (z2's leader) and c; both fell silent, their summaries went stale.
  const a = partitionView(
    THREE,
    "a",
    NOW_MS,
    seen([], ["b", "c"]),
    heard({ b: ["a", "b", "c"], c: ["a", "b", "c"] }, 5_000),
  );
  assert.deepEqual(sorted(a.reachable), ["a"]);
  assert.equal(a.state, "minority");

  // B leads z2: a is silent, c answers and reaches only the two of them.
  const b = partitionView(THREE, "b", NOW_MS, seen(["c"], ["a"]), heard({ c: ["b", "c"] }));
  assert.deepEqual(sorted(b.reachable), ["b", "c"]);
  assert.equal(b.state, "majority");

  // C does not monitor a at all; it hears z1 through b, which no longer reaches it.
  const c = partitionView(THREE, "c", NOW_MS, seen(["b"]), heard({ b: ["b", "c"] }));
  assert.deepEqual(sorted(c.reachable), ["b", "c"]);
  assert.equal(c.state, "majority");
});

Deno.test("partitionView() rows list every region in topology order with phi and last seen", () => {
  const view = partitionView(
    THREE,
    "b",
    NOW_MS,
    new Map([
      ["a", { phi: SUSPECT_PHI, lastSeenMs: NOW_MS - 5_000 }],
      ["c", { phi: 0.5, lastSeenMs: NOW_MS - 200 }],
    ]),
    heard({}),
  );
  assert.deepEqual(view.rows, [
    {
      id: "a",
      zone: "z1",
      direct: false,
      phi: SUSPECT_PHI,
      lastSeenMs: NOW_MS - 5_000,
      reachable: false,
    },
    { id: "b", zone: "z2", direct: true, phi: null, lastSeenMs: null, reachable: true },
    { id: "c", zone: "z2", direct: true, phi: 0.5, lastSeenMs: NOW_MS - 200, reachable: true },
  ]);
});

Deno.test("partitionView() never counts a peer never heard from, whatever its phi", () => {
  const view = partitionView(
    THREE,
    "a",
    NOW_MS,
    new Map([["b", { phi: Infinity, lastSeenMs: null }], ["c", { phi: 0, lastSeenMs: null }]]),
    heard({}),
  );
  assert.deepEqual(sorted(view.reachable), ["a"]);
  assert.deepEqual(view.rows.map((r) => r.phi), [null, null, null]);
});

Deno.test("partitionView() in a 5-region mesh: three of five is a majority, two a minority", () => {
  const healthy = partitionView(
    FIVE,
    "a2",
    NOW_MS,
    seen(["a1", "a3"]),
    heard({ a1: ["a1", "a2", "a3", "b1", "b2"], a3: ["a1", "a2", "a3"] }),
  );
  assert.equal(healthy.reachable.size, 5);
  assert.deepEqual(sorted(healthy.direct), ["a1", "a2", "a3"]);
  assert.equal(healthy.state, "majority");

  const aSide = partitionView(
    FIVE,
    "a1",
    NOW_MS,
    seen(["a2", "a3"], ["b1", "b2"]),
    heard({ a2: ["a1", "a2", "a3"], a3: ["a1", "a2", "a3"] }),
  );
  assert.deepEqual(sorted(aSide.reachable), ["a1", "a2", "a3"]);
  assert.equal(aSide.state, "majority");

  const bSide = partitionView(
    FIVE,
    "b1",
    NOW_MS,
    seen(["b2"], ["a1", "a2", "a3"]),
    heard({ b2: ["b1", "b2"] }),
  );
  assert.deepEqual(sorted(bSide.reachable), ["b1", "b2"]);
  assert.equal(bSide.state, "minority");
});

Deno.test("partitionView() follows claims through summaries of regions reached only by summary", () => {
  // a3 cannot reach a1; a2 vouches for b1; b1's (fresh) summary vouches for b2.
  const view = partitionView(
    FIVE,
    "a3",
    NOW_MS,
    seen(["a2"], ["a1"]),
    heard({ a2: ["a1", "a2", "a3", "b1"], b1: ["a1", "a2", "a3", "b1", "b2"] }),
  );
  // a1 is a3's zone peer: only a3's own detector speaks for it.
  assert.deepEqual(sorted(view.reachable), ["a2", "a3", "b1", "b2"]);
  assert.deepEqual(sorted(view.direct), ["a2", "a3"]);
  assert.equal(view.rows.find((r) => r.id === "b2")!.direct, false);
  assert.equal(view.rows.find((r) => r.id === "b2")!.reachable, true);
});

Deno.test("partitionView() ignores stale summaries, with the bound as an option", () => {
  const stale = SUMMARY_FRESH_MS_DEFAULT + 1;
  const summaries = heard({ b1: ["a1", "a2", "a3", "b1", "b2"] }, stale);
  const view = partitionView(FIVE, "b2", NOW_MS, seen(["b1"]), summaries);
  assert.deepEqual(sorted(view.reachable), ["b1", "b2"]);
  assert.equal(view.state, "minority");

  const lenient = partitionOptions({ summaryFreshMs: 10_000 });
  const trusting = partitionView(FIVE, "b2", NOW_MS, seen(["b1"]), summaries, lenient);
  assert.equal(trusting.reachable.size, 5);

  // Fresh while younger than the bound (docs/protocol.md): at it, a summary no longer counts.
  const below = heard({ b1: ["a1", "b1"] }, SUMMARY_FRESH_MS_DEFAULT - 1);
  assert.ok(partitionView(FIVE, "b2", NOW_MS, seen(["b1"]), below).reachable.has("a1"));
  const atBound = heard({ b1: ["a1", "b1"] }, SUMMARY_FRESH_MS_DEFAULT);
  assert.ok(!partitionView(FIVE, "b2", NOW_MS, seen(["b1"]), atBound).reachable.has("a1"));
});

Deno.test("partitionView() ignores summaries of unreachable peers and unknown region ids", () => {
  const view = partitionView(
    FIVE,
    "b2",
    NOW_MS,
    seen([], ["b1"]),
    heard({ b1: ["a1", "b1"], b2: ["zz-9"], a1: ["a2"] }),
  );
  assert.deepEqual(sorted(view.reachable), ["b2"]);
});

Deno.test("partitionView() takes claims about another zone only from that zone or earlier regions", () => {
  // a1 comes first: it hears z2 only from z2's own regions, never from a2 behind it.
  const a1 = partitionView(FIVE, "a1", NOW_MS, seen(["a2"]), heard({ a2: ["a2", "b1", "b2"] }));
  assert.deepEqual(sorted(a1.reachable), ["a1", "a2"]);
  const fromZone = partitionView(FIVE, "a1", NOW_MS, seen(["b2"]), heard({ b2: ["b1", "b2"] }));
  assert.deepEqual(sorted(fromZone.reachable), ["a1", "b1", "b2"]);
});

Deno.test("partitionView() throws when this region is not in the topology", () => {
  assert.throws(
    () => partitionView(THREE, "nope", NOW_MS, new Map(), new Map()),
    /Region "nope" is not in the topology/,
  );
});

Deno.test("partitionOptions() validates and documents its defaults", () => {
  assert.deepEqual({ ...partitionOptions() }, { threshold: 8, summaryFreshMs: 1_000 });
  assert.throws(
    () => partitionOptions({ summaryFreshMs: 0 }),
    /Cannot use partition options as summaryFreshMs is invalid/,
  );
  const strict = partitionOptions({ threshold: 0.05 });
  const view = partitionView(THREE, "b", NOW_MS, seen(["c"]), heard({}), strict);
  assert.deepEqual(sorted(view.reachable), ["b"]);
});

/**
 * One synchronous gossip round: every region recomputes its view from its direct links (`links`
 * maps a region to the peers its detector hears) and from the views the others sent last round.
 * `audience` says whose summaries a region receives (default: everyone's, the harshest case).
 */
function gossipRound(
  topo: Topology,
  views: Map<string, Set<string>>,
  links: Map<string, Set<string>>,
  audience: (from: string, to: string) => boolean = () => true,
): Map<string, Set<string>> {
  const next = new Map<string, Set<string>>();
  for (const region of topo.regions) {
    const mine = links.get(region.id) ?? new Set();
    const others = topo.regions.filter((r) => r.id !== region.id).map((r) => r.id);
    const direct = seen(others.filter((id) => mine.has(id)), others.filter((id) => !mine.has(id)));
    const summaries = heard(
      Object.fromEntries(
        others.filter((id) => audience(id, region.id)).map((id) => [id, [...views.get(id)!]]),
      ),
    );
    next.set(region.id, partitionView(topo, region.id, NOW_MS, direct, summaries).reachable);
  }
  return next;
}

/** Regions reachable from `from` over direct links (the truth a view must not exceed). */
function closure(from: string, links: Map<string, Set<string>>): Set<string> {
  const found = new Set([from]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    for (const peer of links.get(queue[i]) ?? []) {
      if (!found.has(peer)) found.add(peer), queue.push(peer);
    }
  }
  return found;
}

Deno.test("partitionView() drops a dead region even while survivors keep echoing it to each other", () => {
  // b and c both believed a reachable and keep sending each other that belief: with naive
  // transitive summaries neither would ever let go (count-to-infinity).
  let views = new Map(["a", "b", "c"].map((id) => [id, new Set(["a", "b", "c"])]));
  const links = new Map([["a", new Set<string>()], ["b", new Set(["c"])], ["c", new Set(["b"])]]);
  for (let round = 0; round < 3; round++) views = gossipRound(THREE, views, links);
  assert.deepEqual(sorted(views.get("a")!), ["a"]);
  assert.deepEqual(sorted(views.get("b")!), ["b", "c"]);
  assert.deepEqual(sorted(views.get("c")!), ["b", "c"]);
});

Deno.test("partitionView() reaches every region of a healthy hierarchy through the zone leaders", () => {
  // Links only where exchangeTargets() sends: zone peers, and leader to leader.
  const links = new Map<string, Set<string>>(
    FIVE.regions.map((r) => [r.id, new Set()]),
  );
  const everyone = new Set(FIVE.regions.map((r) => r.id));
  for (const region of FIVE.regions) {
    for (const target of exchangeTargets(FIVE, region.id, everyone)) {
      links.get(region.id)!.add(target.id);
      links.get(target.id)!.add(region.id);
    }
  }
  assert.deepEqual(sorted(links.get("a1")!), ["a2", "a3", "b1"]);
  let views = new Map(FIVE.regions.map((r) => [r.id, new Set([r.id])]));
  const linked = (from: string, to: string) => links.get(to)!.has(from);
  for (let round = 0; round < 4; round++) views = gossipRound(FIVE, views, links, linked);
  for (const [id, view] of views) assert.equal(view.size, 5, `${id} sees ${sorted(view)}`);
});

Deno.test("partitionView() views never exceed what direct links reach, from any starting belief", () => {
  const meshes = fc.integer({ min: 2, max: 7 }).chain((n) =>
    fc.record({
      zoneOf: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
      links: fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), {
        minLength: n,
        maxLength: n,
      }),
      beliefs: fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), {
        minLength: n,
        maxLength: n,
      }),
    })
  );
  fc.assert(
    fc.property(meshes, ({ zoneOf, links: linkBits, beliefs }) => {
      const names = zoneOf.map((_, i) => `r${i}`);
      const zones: Record<string, string[]> = {};
      zoneOf.forEach((z, i) => (zones[`z${z}`] ??= []).push(names[i]));
      const topo = topology(zones);
      const links = new Map(
        names.map((id, i) => [id, new Set(names.filter((_, j) => j !== i && linkBits[i][j]))]),
      );
      // Arbitrary, possibly false, starting beliefs: ghosts everywhere.
      let views = new Map(
        names.map((id, i) => [id, new Set(names.filter((_, j) => beliefs[i][j]))]),
      );
      for (let round = 0; round <= names.length + 1; round++) {
        views = gossipRound(topo, views, links);
      }
      for (const id of names) {
        const truth = closure(id, links);
        for (const claimed of views.get(id)!) {
          assert.ok(truth.has(claimed), `${id} claims ${claimed}; links reach ${sorted(truth)}`);
        }
        for (const peer of links.get(id)!) assert.ok(views.get(id)!.has(peer));
      }
    }),
  );
});

Deno.test("zoneLeaders() picks the first reachable region of each zone in topology order", () => {
  const all = new Set(["a1", "a2", "a3", "b1", "b2"]);
  assert.deepEqual(Object.fromEntries(zoneLeaders(FIVE, all)), { z1: "a1", z2: "b1" });
  assert.deepEqual(
    Object.fromEntries(zoneLeaders(FIVE, new Set(["a2", "a3", "b2"]))),
    { z1: "a2", z2: "b2" },
  );
  assert.deepEqual(
    Object.fromEntries(zoneLeaders(FIVE, new Set(["a3"]))),
    { z1: "a3", z2: null },
  );
});

Deno.test("exchangeTargets() of a zone leader: its zone peers and the other zones' leaders", () => {
  const all = new Set(["a1", "a2", "a3", "b1", "b2"]);
  assert.deepEqual(ids(exchangeTargets(FIVE, "a1", all)), ["a2", "a3", "b1"]);
  assert.deepEqual(ids(exchangeTargets(FIVE, "b1", all)), ["b2", "a1"]);
});

Deno.test("exchangeTargets() of a non-leader: its zone peers only", () => {
  const all = new Set(["a1", "a2", "a3", "b1", "b2"]);
  assert.deepEqual(ids(exchangeTargets(FIVE, "a2", all)), ["a1", "a3"]);
  assert.deepEqual(ids(exchangeTargets(FIVE, "b2", all)), ["b1"]);
});

Deno.test("exchangeTargets() keeps unreachable zone peers and takes over when the leader is gone", () => {
  // a1 is unreachable from a2: a2 leads z1 now, and still retries a1 for ever.
  const view = new Set(["a2", "b1", "b2"]);
  assert.deepEqual(ids(exchangeTargets(FIVE, "a2", view)), ["a1", "a3", "b1"]);
  // Nothing reachable at all: every zone peer, and every region of the other zone.
  assert.deepEqual(ids(exchangeTargets(FIVE, "a1", new Set(["a1"]))), ["a2", "a3", "b1", "b2"]);
  assert.deepEqual(ids(exchangeTargets(THREE, "a", new Set(["a"]))), ["b", "c"]);
  assert.deepEqual(ids(exchangeTargets(THREE, "b", new Set(["b", "c"]))), ["c", "a"]);
});

Deno.test("exchangeTargets() reaches a remote zone through its next region when its first is down", () => {
  const view = new Set(["a1", "a2", "a3", "b2"]);
  assert.deepEqual(ids(exchangeTargets(FIVE, "a1", view)), ["a2", "a3", "b1", "b2"]);
});

Deno.test("exchangeTargets() ends a remote zone's prefix only at a region reached directly", () => {
  // b1 is vouched for by b2's summary but a1's own heartbeats to b1 fail: keep b2 as a target,
  // or b2's summary would go stale and the targets would flap.
  const view = partitionView(
    FIVE,
    "a1",
    NOW_MS,
    seen(["a2", "a3", "b2"], ["b1"]),
    heard({ b2: ["b1", "b2"] }),
  );
  assert.ok(view.reachable.has("b1") && !view.direct.has("b1"));
  assert.deepEqual(
    ids(exchangeTargets(FIVE, "a1", view.reachable, view.direct)),
    ["a2", "a3", "b1", "b2"],
  );
  assert.deepEqual(ids(exchangeTargets(FIVE, "a1", view.reachable)), ["a2", "a3", "b1"]);
});
