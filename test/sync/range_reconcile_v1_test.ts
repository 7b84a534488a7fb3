/**
 * Range reconciliation frame version 1, driven in-process: a ReconcilerV1 over one trie talks to
 * `respond()` over another until `next` is null (regions still answer version 1, so clients that
 * speak only it keep working). Sets come from a seeded generator (fast-check draws the seed and
 * the shape) so that 2,000-id sets stay cheap; "clustered" sets share long prefixes and often
 * collide on their first 16 bytes across the two sides.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ID_BYTES, IdTrie } from "../../src/sync/id_trie.ts";
import {
  decodeFrame,
  encodeFrame,
  type ReconcilerOptions,
  ReconcilerV1,
  resolveIds,
  respond,
  type RespondOptions,
  SYNC_FRAME_RANGES_MAX,
  SYNC_FRAME_V1_BYTES_MAX,
  SYNC_RANGE_IDS_MAX,
  SYNC_RESPONSE_BYTES_MIN,
  SYNC_ROUNDS_MAX,
  SYNC_SESSION_BYTES_MAX,
  SYNC_SESSION_RANGES_MAX,
  SyncBudgetError,
  SyncFrameError,
  type SyncRange,
} from "../../src/sync/range_reconcile.ts";
import { differences, hex, makeIds, random, resolved, type Shape, trieOf } from "./_sets.ts";

interface Session {
  rounds: number;
  have: Uint8Array[];
  need: Uint8Array[];
  requests: number[];
  responses: number[];
  deferred: number;
  complete: boolean;
}

function reconcile(
  client: IdTrie<string>,
  server: IdTrie<string>,
  clientOptions: ReconcilerOptions = {},
  serverOptions: RespondOptions = {},
): Session {
  const reconciler = new ReconcilerV1(client, clientOptions);
  const session: Session = {
    rounds: 0,
    have: [],
    need: [],
    requests: [],
    responses: [],
    deferred: 0,
    complete: false,
  };
  let request: Uint8Array | null = reconciler.start();
  while (request !== null) {
    session.rounds++;
    session.requests.push(request.length);
    const response = respond(server, request, serverOptions);
    session.responses.push(response.length);
    session.deferred += decodeFrame(response).deferred;
    const step = reconciler.receive(response);
    session.have.push(...step.have);
    session.need.push(...step.need);
    request = step.next;
  }
  session.complete = reconciler.complete;
  assert.equal(reconciler.rounds, session.rounds);
  return session;
}

const pairArb = fc.record({
  seed: fc.integer(),
  shared: fc.nat(2_000),
  onlyClient: fc.nat(2_000),
  onlyServer: fc.nat(2_000),
  skew: fc.constantFrom(1, 10, 100, 1_000),
  shape: fc.constantFrom<Shape>("random", "clustered"),
}).map(({ seed, shared, onlyClient, onlyServer, skew, shape }) => {
  // Mostly small differences over a large common part, sometimes disjoint or one-sided.
  const a = Math.floor(onlyClient / skew), b = Math.floor(onlyServer / skew);
  const common = Math.min(shared, 2_000 - Math.max(a, b));
  const next = random(seed);
  const both = makeIds(common, next, shape);
  return {
    shape,
    client: trieOf([...both, ...makeIds(a, next, shape)]),
    server: trieOf([...both, ...makeIds(b, next, shape)]),
  };
});

const optionsArb = fc.record({
  idListMax: fc.constantFrom(1, 2, 16, 32, SYNC_RANGE_IDS_MAX),
  tightServer: fc.boolean(),
  clientFrame: fc.constantFrom(256, 1_000, SYNC_FRAME_V1_BYTES_MAX),
  startNibbles: fc.integer({ min: 0, max: 3 }),
}).map(({ idListMax, tightServer, clientFrame, startNibbles }) => ({
  client: { frameBytesMax: clientFrame, startNibbles },
  server: {
    idListMax,
    frameBytesMax: tightServer ? SYNC_RESPONSE_BYTES_MIN : SYNC_FRAME_V1_BYTES_MAX,
  },
}));

Deno.test("ReconcilerV1 finds exactly the two set differences of random sets, every frame in bounds", () => {
  fc.assert(
    fc.property(pairArb, optionsArb, ({ shape, client, server }, options) => {
      const session = reconcile(client, server, options.client, options.server);
      assert.ok(session.complete);
      for (const size of session.requests) assert.ok(size <= options.client.frameBytesMax);
      for (const size of session.responses) assert.ok(size <= options.server.frameBytesMax);
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
      }
    }),
    { numRuns: 100 },
  );
});

Deno.test("ReconcilerV1 sessions after exchanging the differences converge to equal fingerprints", () => {
  fc.assert(
    fc.property(pairArb, optionsArb, ({ client, server }, options) => {
      for (let sessions = 1;; sessions++) {
        const session = reconcile(client, server, options.client, options.server);
        if (session.have.length === 0 && session.need.length === 0) break;
        assert.ok(sessions < 4, "no convergence after 3 sessions");
        session.have.forEach((id) => server.add(id, "ch"));
        resolveIds(server, session.need, Infinity).forEach((e) => client.add(e.id, e.value));
      }
      assert.deepEqual(client.fingerprint([]), server.fingerprint([]));
      assert.deepEqual(client.ids([]).map(hex), server.ids([]).map(hex));
    }),
    { numRuns: 60 },
  );
});

Deno.test("ReconcilerV1 settles equal sets in one round with a tiny response", () => {
  fc.assert(
    fc.property(fc.integer(), fc.nat(2_000), (seed, n) => {
      const ids = makeIds(n, random(seed), "random");
      const session = reconcile(trieOf(ids), trieOf(ids));
      assert.equal(session.rounds, 1);
      assert.deepEqual(session.responses, [3]);
      assert.ok(session.requests[0] <= 16 * 133 + 3);
    }),
    { numRuns: 30 },
  );
  const one = reconcile(trieOf([]), trieOf([]), { startNibbles: 0 });
  assert.deepEqual([one.rounds, one.requests, one.responses], [1, [13], [3]]);
});

Deno.test("ReconcilerV1 settles in one round when either side holds nothing", () => {
  const ids = makeIds(2_000, random(1), "random");
  const toEmpty = reconcile(trieOf(ids), trieOf([]));
  assert.equal(toEmpty.rounds, 1);
  assert.deepEqual(toEmpty.have.map(hex).sort(), ids.map(hex).sort());
  const fromEmpty = reconcile(trieOf([]), trieOf(ids));
  assert.equal(fromEmpty.rounds, 1);
  assert.deepEqual(resolved(trieOf(ids), fromEmpty.need), ids.map(hex).sort());
});

Deno.test("ReconcilerV1 tells apart ids that differ only in their last byte, in one session", () => {
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

Deno.test("ReconcilerV1 finds a 16-byte prefix shared across sides by asking again for full ids", () => {
  const x = new Uint8Array(ID_BYTES).fill(0x11);
  const xPrime = x.slice();
  xPrime[20] = 0x99;
  const session = reconcile(trieOf([xPrime]), trieOf([x]));
  assert.deepEqual(session.have.map(hex), [hex(xPrime)]);
  assert.deepEqual(session.need.map(hex), [hex(x)]);
  assert.equal(session.rounds, 2);
});

Deno.test("respond() defers what does not fit and the client asks again until done", () => {
  let deferred = 0;
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 0, max: 8_000 }), (seed, common) => {
      const next = random(seed);
      const both = makeIds(common, next, "random");
      const client = trieOf([...both, ...makeIds(10_000 - common, next, "random")]);
      const server = trieOf([...both, ...makeIds(10_000 - common, next, "random")]);
      const options = { idListMax: 4, frameBytesMax: SYNC_RESPONSE_BYTES_MIN };
      const session = reconcile(client, server, { differencesMax: Infinity }, options);
      deferred += session.deferred;
      assert.ok(session.responses.every((size) => size <= options.frameBytesMax));
      const truth = differences(client, server);
      assert.deepEqual(session.have.map(hex).sort(), truth.have);
      assert.deepEqual(resolved(server, session.need), truth.need);
    }),
    { numRuns: 5 },
  );
  assert.ok(deferred > 0);
});

Deno.test("ReconcilerV1 stops after roundsMax requests and reports the session incomplete", () => {
  const next = random(4);
  const client = trieOf(makeIds(2_000, next, "random"));
  const server = trieOf(makeIds(2_000, next, "random"));
  const session = reconcile(client, server, { frameBytesMax: 256, roundsMax: 3 });
  assert.equal(session.rounds, 3);
  assert.equal(session.complete, false);
});

Deno.test("ReconcilerV1 reconciles 1M vs 1M ids differing by 100 in ≤ 5 rounds and ≤ 64 KiB", () => {
  const next = random(5);
  const bytes = new Uint8Array(1_000_050 * ID_BYTES);
  for (let k = 0; k < bytes.length; k += 4) {
    const word = (next() * 4_294_967_296) >>> 0;
    bytes[k] = word;
    bytes[k + 1] = word >>> 8;
    bytes[k + 2] = word >>> 16;
    bytes[k + 3] = word >>> 24;
  }
  const client = new IdTrie<string>(), server = new IdTrie<string>();
  for (let i = 0; i < 1_000_050; i++) {
    const id = bytes.subarray(i * ID_BYTES, (i + 1) * ID_BYTES);
    if (i < 999_950 || i % 2 === 0) client.add(id, "ch");
    if (i < 999_950 || i % 2 === 1) server.add(id, "ch");
  }
  const session = reconcile(client, server);
  const total = [...session.requests, ...session.responses].reduce((a, b) => a + b);
  assert.ok(session.rounds <= 5, `${session.rounds} rounds`);
  assert.ok(total <= 65_536, `${total} bytes`);
  assert.equal(session.have.length, 50);
  assert.equal(resolved(server, session.need).length, 50);
  assert.ok(session.have.every((id) => !server.has(id)));
});

// ---------------------------------------------------------------------------------------------
// Malformed frames

function expectReject(bytes: Uint8Array, reason?: SyncFrameError["reason"]): void {
  assert.throws(
    () => respond(new IdTrie<string>(), bytes),
    (error) => error instanceof SyncFrameError && (reason === undefined || error.reason === reason),
  );
}

/** A valid request of the ranges given as hex, after the version/deferred/count header. */
const frame = (deferred: number, count: number, body: string) =>
  Uint8Array.from(
    `01${deferred.toString(16).padStart(2, "0")}${count.toString(16).padStart(2, "0")}${body}`
      .match(/../g)!.map((h) => parseInt(h, 16)),
  );

Deno.test("respond() rejects malformed frames with a SyncFrameError naming the reason", () => {
  const fp = "00".repeat(8);
  expectReject(new Uint8Array(), "truncated");
  expectReject(Uint8Array.of(3, 0, 0), "version"); // versions 1 and 2 are read
  expectReject(frame(0, 1, `0000`), "truncated");
  expectReject(frame(0, 0, "00"), "malformed"); // trailing byte
  expectReject(frame(1, 0, ""), "malformed"); // a request defers nothing
  expectReject(frame(0, 1, `41${"00".repeat(33)}00${fp}`), "malformed"); // 65 nibbles
  expectReject(frame(0, 1, `0101 00${fp}`.replace(" ", "")), "malformed"); // odd pad ≠ 0
  expectReject(frame(0, 1, `0009${fp}`), "malformed"); // unknown kind
  expectReject(frame(0, 1, `40${"00".repeat(32)}020000`), "malformed"); // children of an id
  expectReject(frame(0, 1, `0003${fp}1000`), "unexpected"); // an id list in a request
  expectReject(Uint8Array.of(1, 0, 0x80, 0x00), "malformed"); // non-minimal varint
  expectReject(Uint8Array.of(1, 0, 0x81, 0x08), "limit"); // 1,025 ranges
  expectReject(new Uint8Array(SYNC_FRAME_V1_BYTES_MAX + 1).fill(1), "oversize");
  assert.throws(() => respond(new IdTrie(), "x" as unknown as Uint8Array), SyncFrameError);
});

Deno.test("decodeFrame() rejects id lists that are unsorted, outside their range or too wide", () => {
  const fp = "00".repeat(8);
  const id = (b: string) => b.repeat(16);
  const decodeRejects = (body: string) =>
    assert.throws(() => decodeFrame(frame(0, 1, body)), SyncFrameError);
  decodeRejects(`0003${fp}1002${id("02")}${id("01")}`); // descending
  decodeRejects(`0003${fp}1002${id("01")}${id("01")}`); // repeated
  decodeRejects(`0003${fp}11`); // width 17
  decodeRejects(`${"40" + "00".repeat(32)}03${fp}1000`); // 16-byte ids under a 64-nibble path
  decodeRejects(`0150 03${fp}1001${"40" + "00".repeat(15)}`.replace(" ", "")); // 5 ≠ 4
  assert.doesNotThrow(() =>
    decodeFrame(frame(0, 1, `0150 03${fp}1001${"5a".repeat(16)}`.replace(" ", "")))
  );
  assert.throws(() => decodeFrame(frame(0, 1, `0003${fp}1041`)), SyncFrameError); // 65 > 64 ids
});

Deno.test("respond() answers arbitrary bytes with a frame or a SyncFrameError, never a crash", () => {
  const server = trieOf(makeIds(300, random(6), "clustered"));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, versioned) => {
    if (versioned && bytes.length > 0) bytes[0] = 1;
    try {
      decodeFrame(respond(server, bytes));
    } catch (error) {
      if (!(error instanceof SyncFrameError)) throw error;
    }
  }));
});

Deno.test("respond() and ReconcilerV1.receive() survive every mutation of valid frames", () => {
  const next = random(7);
  const client = trieOf(makeIds(400, next, "clustered"));
  const server = trieOf(makeIds(400, next, "clustered"));
  const reconciler = new ReconcilerV1(client);
  const request = reconciler.start();
  const response = respond(server, request);
  const mutation = fc.record({
    at: fc.nat(),
    cut: fc.boolean(),
    value: fc.nat(255),
  });
  fc.assert(
    fc.property(mutation, fc.boolean(), ({ at, cut, value }, ofResponse) => {
      const valid = ofResponse ? response : request;
      const i = at % valid.length;
      const bytes = cut ? valid.slice(0, i) : valid.slice();
      if (!cut) bytes[i] = value;
      try {
        const decoded = decodeFrame(bytes);
        // Canonical: whatever decodes re-encodes to the same bytes.
        assert.deepEqual(encodeFrame(decoded), bytes);
        if (ofResponse) {
          const fresh = new ReconcilerV1(client);
          fresh.start();
          fresh.receive(bytes);
        } else decodeFrame(respond(server, bytes));
      } catch (error) {
        if (!(error instanceof SyncFrameError)) throw error;
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("ReconcilerV1.receive() rejects a response answering ranges that were not asked", () => {
  const next = random(8);
  const client = trieOf(makeIds(1_000, next, "random"));
  const server = trieOf(makeIds(1_000, next, "random"));
  // Ask at depth 0; answer with the response to a depth-2 request instead.
  const reconciler = new ReconcilerV1(client, { startNibbles: 0 });
  reconciler.start();
  const other = respond(server, new ReconcilerV1(client).start());
  assert.throws(() => reconciler.receive(other), (e) => e instanceof SyncFrameError);
  const deferTooMany = encodeFrame({ deferred: 2, ranges: [] });
  const again = new ReconcilerV1(client, { startNibbles: 0 });
  again.start();
  assert.throws(() => again.receive(deferTooMany), (e) => e instanceof SyncFrameError);
  assert.ok(SYNC_FRAME_RANGES_MAX >= 16);
});

// ---------------------------------------------------------------------------------------------
// Hostile peers: bounded work

/** Random child fingerprints for `prefix`: a CHILDREN range that never matches anything. */
const liarChildren = (prefix: readonly number[], next: () => number): SyncRange => ({
  kind: "children",
  prefix: Uint8Array.from(prefix),
  fingerprints: Array.from(
    { length: 16 },
    () => Uint8Array.from({ length: 8 }, () => (next() * 256) | 0),
  ),
});

/**
 * The adversary of issue 8 item 3: answers every range asked (every child of a CHILDREN range)
 * with 16 random child fingerprints, as much as fits in a frame; answers only `answerMax`
 * request ranges a round (deferring the rest).
 */
function liar(next: () => number, answerMax = Infinity) {
  return (request: Uint8Array): Uint8Array => {
    const asked = decodeFrame(request).ranges;
    const out: SyncRange[] = [];
    let bytes = 8, answered = 0;
    for (const range of asked) {
      const paths = range.kind === "children"
        ? Array.from({ length: 16 }, (_, c) => [...range.prefix, c])
        : [[...range.prefix]];
      const answers = paths.filter((p) => p.length < 64).map((p) => liarChildren(p, next));
      const size = answers.reduce((sum, a) => sum + 4 + ((a.prefix.length + 1) >> 1) + 128, 0);
      if (answered >= answerMax || bytes + size > SYNC_FRAME_V1_BYTES_MAX) break;
      if (out.length + answers.length > SYNC_FRAME_RANGES_MAX) break;
      out.push(...answers);
      bytes += size;
      answered++;
    }
    return encodeFrame({ deferred: asked.length - answered, ranges: out });
  };
}

/** Runs a session against `server` for at most `roundsMax` rounds; what ended it. */
function hostileSession(
  client: IdTrie<string>,
  server: (r: Uint8Array) => Uint8Array,
  roundsMax: number,
) {
  const reconciler = new ReconcilerV1(client);
  let request: Uint8Array | null = reconciler.start();
  let peak = 0;
  try {
    while (request !== null && reconciler.rounds <= roundsMax) {
      request = reconciler.receive(server(request)).next;
      peak = Math.max(peak, reconciler.outstanding);
    }
    return { error: null, rounds: reconciler.rounds, peak, bytes: reconciler.bytes };
  } catch (error) {
    return { error, rounds: reconciler.rounds, peak, bytes: reconciler.bytes };
  }
}

Deno.test("ReconcilerV1 abandons a session with a responder that answers every range with 16 random children", () => {
  const client = trieOf(makeIds(10_000, random(11), "random"));
  const ended = hostileSession(client, liar(random(12)), 16);
  assert.ok(
    ended.error instanceof SyncBudgetError,
    `ended by ${ended.error} after ${ended.rounds}`,
  );
  assert.equal(ended.error.budget, "ranges");
  assert.ok(ended.rounds <= 6, `${ended.rounds} rounds`);
  assert.ok(ended.peak <= SYNC_SESSION_RANGES_MAX, `${ended.peak} ranges held`);
  assert.match(ended.error.message, /abandoned/);
});

Deno.test("ReconcilerV1 ends a session with a responder that answers one range a round within its bounds", () => {
  // Growing the queue slowly does not get round the bounds: depth first, the session reaches
  // whole ids (64 nibbles) and its differencesMax, or its bytes, or its rounds.
  const client = trieOf(makeIds(2_000, random(13), "random"));
  const ended = hostileSession(client, liar(random(14), 1), 2_048);
  assert.ok(ended.error === null || ended.error instanceof SyncBudgetError, `${ended.error}`);
  assert.ok(ended.rounds <= SYNC_ROUNDS_MAX, `${ended.rounds} rounds`);
  assert.ok(ended.bytes <= SYNC_SESSION_BYTES_MAX + SYNC_FRAME_V1_BYTES_MAX);
  assert.ok(ended.peak <= SYNC_SESSION_RANGES_MAX);
});

Deno.test("ReconcilerV1.receive() rejects a response that answers none of the ranges sent", () => {
  const client = trieOf(makeIds(100, random(15), "random"));
  const stall = (request: Uint8Array) =>
    encodeFrame({ deferred: decodeFrame(request).ranges.length, ranges: [] });
  const ended = hostileSession(client, stall, 1_024);
  assert.ok(ended.error instanceof SyncFrameError && ended.error.reason === "unexpected");
  assert.equal(ended.rounds, 1);
});

Deno.test("ReconcilerV1 converges 200k vs 200k ids differing by 10,000 over sessions within the budgets", () => {
  const next = random(16);
  const both = makeIds(195_000, next, "random");
  const client = trieOf([...both, ...makeIds(5_000, next, "random")]);
  const server = trieOf([...both, ...makeIds(5_000, next, "random")]);
  let sessions = 0;
  for (;; sessions++) {
    const session = reconcile(client, server);
    if (session.have.length + session.need.length === 0) break;
    assert.ok(
      session.rounds < 32 && sessions < 10,
      `${session.rounds} rounds, ${sessions} sessions`,
    );
    // A region moves at most 2,000 deltas each way a session.
    session.have.slice(0, 2_000).forEach((id) => server.add(id, "ch"));
    resolveIds(server, session.need.slice(0, 2_000), Infinity).forEach((e) =>
      client.add(e.id, "ch")
    );
  }
  assert.ok(sessions >= 3, "the difference takes several sessions");
  assert.deepEqual(client.fingerprint([]), server.fingerprint([]));
});

Deno.test("respond() refuses a request that repeats or nests ranges", () => {
  const trie = trieOf(makeIds(1_000, random(17), "random"));
  const next = random(18);
  const refuse = (ranges: SyncRange[]) =>
    assert.throws(
      () => respond(trie, encodeFrame({ deferred: 0, ranges })),
      (e) => e instanceof SyncFrameError && /overlaps/.test(e.message),
    );
  refuse([liarChildren([1, 2], next), liarChildren([1, 2], next)]);
  refuse([liarChildren([1], next), liarChildren([3], next), liarChildren([1, 2, 3], next)]);
  const fp = { kind: "fingerprint" as const, fingerprint: new Uint8Array(8), wide: false };
  refuse([{ ...fp, prefix: Uint8Array.of(4, 5) }, liarChildren([4, 5], next)]);
  refuse([{ ...fp, prefix: new Uint8Array(0) }, { ...fp, prefix: Uint8Array.of(9) }]);
  // Siblings and cousins are fine.
  respond(
    trie,
    encodeFrame({ deferred: 0, ranges: [liarChildren([1], next), liarChildren([2, 1], next)] }),
  );
});

Deno.test("ReconcilerV1 with a rotating startAt finds a difference that a run of differences cut short before it", () => {
  // The client holds 64 ids the server lacks under prefix 0x0…, and one more under 0xf….
  const blocking = Array.from({ length: 64 }, (_, i) => {
    const id = new Uint8Array(ID_BYTES).fill(i + 1);
    id[0] = 0x01;
    return id;
  });
  const late = new Uint8Array(ID_BYTES).fill(0xee);
  const shared = makeIds(4_000, random(7), "random");
  const client = trieOf([...shared, ...blocking, late]);
  const server = trieOf(shared);
  const found = (startAt: number) =>
    reconcile(client, server, { differencesMax: 16, frameBytesMax: 256, startAt }).have.some((id) =>
      hex(id) === hex(late)
    );
  assert.equal(found(0), false, "from the first range the run fills the session");
  assert.ok(
    Array.from({ length: 16 }, (_, s) => s).some(found),
    "some rotation reaches the late difference",
  );
});
