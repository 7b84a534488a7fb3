/**
 * Range reconciliation, frame version 2 (cells), driven in-process: a Reconciler over one trie
 * talks to `respond()` over another until `next` is null. Sets come from a seeded generator
 * (fast-check draws the seed and the shape); "clustered" sets share long prefixes and often
 * collide on their first 16 bytes across the two sides.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ID_BYTES, IdTrie } from "../../src/sync/id_trie.ts";
import {
  decodeCellRequest,
  decodeCellResponse,
  encodeCellRequest,
  encodeCellResponse,
  Reconciler,
  type ReconcilerOptions,
  resolveIds,
  respond,
  SYNC_FRAME_BYTES_MAX,
} from "../../src/sync/range_reconcile.ts";
import { differences, hex, makeIds, random, resolved, type Shape, trieOf } from "./_sets.ts";

/** Rounds within which a session finds every difference of the sets these tests draw. */
const ROUNDS_BOUND = 4;

interface Session {
  rounds: number;
  have: Uint8Array[];
  need: Uint8Array[];
  requests: number[];
  responses: number[];
  complete: boolean;
}

type Server = (request: Uint8Array) => Uint8Array;

function reconcile(
  client: IdTrie<string>,
  server: IdTrie<string> | Server,
  options: ReconcilerOptions = {},
): Session {
  const answer = typeof server === "function" ? server : (r: Uint8Array) => respond(server, r);
  const reconciler = new Reconciler(client, { salt: new Uint8Array(8).fill(7), ...options });
  const session: Session = {
    rounds: 0,
    have: [],
    need: [],
    requests: [],
    responses: [],
    complete: false,
  };
  let request: Uint8Array | null = reconciler.start();
  while (request !== null) {
    session.rounds++;
    session.requests.push(request.length);
    const response = answer(request);
    session.responses.push(response.length);
    const step = reconciler.receive(response);
    session.have.push(...step.have);
    session.need.push(...step.need);
    request = step.next;
  }
  session.complete = reconciler.complete;
  assert.equal(reconciler.rounds, session.rounds);
  return session;
}

const unbounded = {
  differencesMax: Infinity,
  bytesMax: Infinity,
  rangesMax: Infinity,
  frameBytesMax: SYNC_FRAME_BYTES_MAX,
};

const pairArb = fc.record({
  seed: fc.integer(),
  shared: fc.nat(3_000),
  onlyClient: fc.nat(2_000),
  onlyServer: fc.nat(2_000),
  skew: fc.constantFrom(1, 10, 100, 1_000),
  shape: fc.constantFrom<Shape>("random", "random", "clustered"),
}).map(({ seed, shared, onlyClient, onlyServer, skew, shape }) => {
  // Mostly small differences over a large common part, sometimes disjoint or one-sided.
  const a = Math.floor(onlyClient / skew), b = Math.floor(onlyServer / skew);
  const next = random(seed);
  const both = makeIds(shared, next, shape);
  return {
    shape,
    client: trieOf([...both, ...makeIds(a, next, shape)]),
    server: trieOf([...both, ...makeIds(b, next, shape)]),
    small: a + b <= shared / 10,
  };
});

Deno.test("Reconciler finds exactly the two set differences of random sets, in ≤ 4 rounds when they differ by ≤ 10%", () => {
  fc.assert(
    fc.property(pairArb, fc.integer(), ({ shape, client, server, small }, salt) => {
      const session = reconcile(client, server, { ...unbounded, salt: saltOf(salt) });
      assert.ok(session.complete);
      for (const size of [...session.requests, ...session.responses]) {
        assert.ok(size <= SYNC_FRAME_BYTES_MAX);
      }
      const truth = differences(client, server);
      const have = session.have.map(hex).sort();
      const need = resolved(server, session.need);
      // What is reported is always true and never repeated.
      assert.equal(new Set(have).size, have.length);
      const [truthHave, truthNeed] = [new Set(truth.have), new Set(truth.need)];
      assert.ok(have.every((id) => truthHave.has(id)));
      assert.ok(need.every((id) => truthNeed.has(id)));
      // Random ids never share 16 bytes, so nothing is missed; clustered ids may need a session more.
      if (shape === "random") {
        assert.deepEqual(have, truth.have);
        assert.deepEqual(need, truth.need);
        if (small) assert.ok(session.rounds <= ROUNDS_BOUND, `${session.rounds} rounds`);
      }
    }),
    { numRuns: 150 },
  );
});

Deno.test("Reconciler sessions after exchanging the differences reach the union", () => {
  fc.assert(
    fc.property(pairArb, ({ client, server }) => {
      const union = new Set([...client.ids([]), ...server.ids([])].map(hex));
      for (let sessions = 1;; sessions++) {
        const session = reconcile(client, server, unbounded);
        if (session.have.length === 0 && session.need.length === 0) break;
        assert.ok(sessions < 4, "no convergence after 3 sessions");
        session.have.forEach((id) => server.add(id, "ch"));
        resolveIds(server, session.need, Infinity).forEach((e) => client.add(e.id, e.value));
      }
      assert.deepEqual(client.fingerprint([]), server.fingerprint([]));
      assert.deepEqual(client.ids([]).map(hex), [...union].sort());
    }),
    { numRuns: 60 },
  );
});

const saltOf = (n: number) => {
  const salt = new Uint8Array(8);
  new DataView(salt.buffer).setInt32(0, n, true);
  return salt;
};

Deno.test("Reconciler settles equal sets in one round with a tiny response", () => {
  fc.assert(
    fc.property(fc.integer(), fc.nat(3_000), (seed, n) => {
      const ids = makeIds(n, random(seed), "random");
      const session = reconcile(trieOf(ids), trieOf(ids));
      assert.equal(session.rounds, 1);
      assert.ok(session.responses[0] <= 16, `${session.responses[0]} bytes`);
      assert.ok(session.requests[0] <= 400, `${session.requests[0]} bytes`);
    }),
    { numRuns: 30 },
  );
});

Deno.test("Reconciler settles in two rounds when either side holds nothing", () => {
  const ids = makeIds(3_000, random(1), "random");
  const toEmpty = reconcile(trieOf(ids), trieOf([]));
  assert.ok(toEmpty.rounds <= 2, `${toEmpty.rounds} rounds`);
  assert.deepEqual(toEmpty.have.map(hex).sort(), ids.map(hex).sort());
  const fromEmpty = reconcile(trieOf([]), trieOf(ids));
  assert.ok(fromEmpty.rounds <= 2, `${fromEmpty.rounds} rounds`);
  assert.deepEqual(resolved(trieOf(ids), fromEmpty.need), ids.map(hex).sort());
});

Deno.test("Reconciler tells apart ids that differ only in their last byte, in one session", () => {
  const stem = new Uint8Array(ID_BYTES).fill(0xab);
  const variant = (last: number) => {
    const id = stem.slice();
    id[31] = last;
    return id;
  };
  const others = makeIds(500, random(2), "random");
  const client = trieOf([...others, variant(1), variant(2)]);
  const server = trieOf([...others, variant(2), variant(3)]);
  const session = reconcile(client, server);
  assert.deepEqual(session.have.map(hex), [hex(variant(1))]);
  assert.deepEqual(session.need.map(hex), [hex(variant(3))], "full ids, not prefixes");
});

Deno.test("Reconciler finds a 16-byte prefix shared across sides by asking again for full ids", () => {
  const x = new Uint8Array(ID_BYTES).fill(0x11);
  const xPrime = x.slice();
  xPrime[20] = 0x99;
  const others = makeIds(300, random(3), "random");
  const session = reconcile(trieOf([...others, xPrime]), trieOf([...others, x]));
  assert.deepEqual(session.have.map(hex), [hex(xPrime)]);
  assert.deepEqual(session.need.map(hex), [hex(x)]);
});

/** An honest server that answers one range a round and defers the rest. */
function oneAtATime(server: IdTrie<string>): Server {
  return (request) => {
    const asked = decodeCellRequest(request);
    const first = encodeCellRequest({ salt: asked.salt, ranges: asked.ranges.slice(0, 1) });
    const { answers } = decodeCellResponse(respond(server, first), asked.ranges.slice(0, 1));
    return encodeCellResponse({ deferred: asked.ranges.length - 1, answers }, asked.ranges);
  };
}

Deno.test("Reconciler asks deferred ranges again until done", () => {
  const next = random(4);
  const both = makeIds(5_000, next, "random");
  const client = trieOf([...both, ...makeIds(60, next, "random")]);
  const server = trieOf([...both, ...makeIds(40, next, "random")]);
  const session = reconcile(client, oneAtATime(server), unbounded);
  const truth = differences(client, server);
  assert.ok(session.rounds > ROUNDS_BOUND, "ranges were deferred");
  assert.deepEqual(session.have.map(hex).sort(), truth.have);
  assert.deepEqual(resolved(server, session.need), truth.need);
});

Deno.test("Reconciler stops after roundsMax requests and reports the session incomplete", () => {
  const next = random(5);
  const both = makeIds(5_000, next, "random");
  const client = trieOf([...both, ...makeIds(60, next, "random")]);
  const server = trieOf([...both, ...makeIds(40, next, "random")]);
  const session = reconcile(client, oneAtATime(server), { roundsMax: 3 });
  assert.equal(session.rounds, 3);
  assert.equal(session.complete, false);
});

Deno.test("Reconciler reconciles 1M vs 1M ids: 1 difference in ≤ 1.5 KB, 100 in ≤ 4 rounds and ≤ 100 B each", () => {
  const next = random(6);
  const bytes = new Uint8Array(1_000_100 * ID_BYTES);
  for (let k = 0; k < bytes.length; k += 4) {
    new DataView(bytes.buffer).setUint32(k, (next() * 4_294_967_296) >>> 0);
  }
  const id = (i: number) => bytes.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
  const client = new IdTrie<string>(), server = new IdTrie<string>();
  for (let i = 0; i < 1_000_000; i++) (client.add(id(i), "ch"), server.add(id(i), "ch"));
  server.add(id(1_000_000), "ch");
  const one = reconcile(client, server);
  const oneBytes = [...one.requests, ...one.responses].reduce((a, b) => a + b);
  assert.ok(oneBytes <= 1_536, `${oneBytes} bytes for one difference`);
  assert.equal(one.need.length, 1);
  for (let i = 1_000_001; i < 1_000_100; i++) (i % 2 === 0 ? client : server).add(id(i), "ch");
  const hundred = reconcile(client, server);
  const total = [...hundred.requests, ...hundred.responses].reduce((a, b) => a + b);
  assert.ok(hundred.rounds <= ROUNDS_BOUND, `${hundred.rounds} rounds`);
  assert.ok(total <= 100 * 100, `${total} bytes`);
  assert.equal(hundred.have.length, 49);
  assert.equal(resolved(server, hundred.need).length, 51);
});
