/**
 * Range reconciliation, frame version 2: malformed frames are refused, hostile servers cannot
 * make a session unbounded, requests cannot make the server repeat work, and sessions limited
 * by `differencesMax` rotate through the id space.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type CellRange,
  decodeCellRequest,
  decodeCellResponse,
  encodeCellRequest,
  encodeCellResponse,
  Reconciler,
  resolveIds,
  respond,
  SYNC_FRAME_BYTES_MAX,
  SYNC_ROUNDS_MAX,
  SYNC_SESSION_BYTES_MAX,
  SYNC_SESSION_RANGES_MAX,
  SyncBudgetError,
  SyncFrameError,
} from "../../src/sync/range_reconcile.ts";
import { IdTrie } from "../../src/sync/id_trie.ts";
import { hex, makeIds, random, trieOf } from "./_sets.ts";
import { cellLiar } from "../support/sync_liar.ts";

const range = (bits: number, path: number[], split: number, mask: number[] | null = null) => {
  const cells = mask === null
    ? 2 ** split
    : mask.flatMap((b) => [...Array(8)].map((_, i) => (b >> i) & 1)).filter(Boolean).length;
  return {
    bits,
    path: Uint8Array.from(path),
    split,
    listMax: 1,
    wide: false,
    mask: mask === null ? null : Uint8Array.from(mask),
    fingerprints: new Uint32Array(cells),
  } satisfies CellRange;
};
const salt = new Uint8Array(8);

function expectReject(bytes: Uint8Array, reason?: SyncFrameError["reason"]): void {
  assert.throws(
    () => respond(new IdTrie<string>(), bytes),
    (error) => error instanceof SyncFrameError && (reason === undefined || error.reason === reason),
  );
}

Deno.test("respond() rejects malformed version-2 requests with a SyncFrameError naming the reason", () => {
  const valid = encodeCellRequest({ salt, ranges: [range(4, [0x10], 4)] });
  assert.doesNotThrow(() => respond(new IdTrie<string>(), valid));
  expectReject(valid.slice(0, valid.length - 1), "truncated");
  expectReject(Uint8Array.of(...valid, 0), "malformed"); // trailing byte
  expectReject(encodeCellRequest({ salt, ranges: [range(4, [0x18], 4)] }), "malformed"); // pad bit
  expectReject(
    encodeCellRequest({ salt, ranges: [range(250, [...Array(32)].map(() => 0), 8)] }),
    "malformed",
  ); // > 255 bits
  expectReject(encodeCellRequest({ salt, ranges: [range(0, [], 17)] }), "malformed"); // split > 16
  expectReject(encodeCellRequest({ salt, ranges: [{ ...range(0, [], 4), listMax: 65 }] }), "limit");
  expectReject(
    encodeCellRequest({ salt, ranges: [{ ...range(0, [], 12), listMax: 64 }] }),
    "limit",
  ); // answer could outgrow a frame
  expectReject(encodeCellRequest({ salt, ranges: [range(0, [], 4, [0, 0])] }), "malformed"); // asks about nothing
  expectReject(encodeCellRequest({ salt, ranges: [range(0, [], 1, [0b110])] }), "malformed"); // mask past its cells
  expectReject(Uint8Array.of(2, ...salt, 0x80, 0x80, 0x80, 0x80, 0x01), "limit"); // ranges
  expectReject(Uint8Array.of(2, ...salt, 0x80, 0x00), "malformed"); // non-minimal varint
  expectReject(new Uint8Array(SYNC_FRAME_BYTES_MAX + 1).fill(2), "oversize");
});

Deno.test("respond() refuses version-2 ranges that repeat or nest, except inside a sub-cell not asked about", () => {
  const trie = trieOf(makeIds(1_000, random(1), "random"));
  const refuse = (ranges: CellRange[]) =>
    assert.throws(
      () => respond(trie, encodeCellRequest({ salt, ranges })),
      (e) => e instanceof SyncFrameError && /overlaps/.test(e.message),
    );
  refuse([range(4, [0x10], 4), range(4, [0x10], 4)]);
  refuse([range(0, [], 4), range(8, [0x12], 2)]);
  refuse([range(4, [0x10], 4, [0xff, 0xfe]), range(8, [0x1f], 2)]); // 0x1f is asked about
  refuse([range(3, [0x20], 1), range(5, [0x28], 1)]); // 001|0 contains 00101
  // The strata of a first request: each nested in the unasked first sub-cell of the one above.
  respond(
    trie,
    encodeCellRequest({ salt, ranges: [range(0, [], 4, [0xfe, 0xff]), range(4, [0x00], 4)] }),
  );
  respond(trie, encodeCellRequest({ salt, ranges: [range(4, [0x10], 4), range(4, [0x20], 4)] }));
});

Deno.test("respond() answers arbitrary version-2 bytes with a frame or a SyncFrameError, never a crash", () => {
  const server = trieOf(makeIds(300, random(2), "clustered"));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
    if (bytes.length > 0) bytes[0] = 2;
    try {
      respond(server, bytes);
    } catch (error) {
      if (!(error instanceof SyncFrameError)) throw error;
    }
  }));
});

Deno.test("respond() and Reconciler.receive() survive every mutation of valid version-2 frames", () => {
  const next = random(3);
  const both = makeIds(400, next, "clustered");
  const client = trieOf([...both, ...makeIds(40, next, "clustered")]);
  const server = trieOf([...both, ...makeIds(40, next, "clustered")]);
  const salted = { salt: new Uint8Array(8).fill(3) };
  const request = new Reconciler(client, salted).start();
  const asked = decodeCellRequest(request).ranges;
  const response = respond(server, request);
  fc.assert(
    fc.property(fc.nat(), fc.boolean(), fc.nat(255), fc.boolean(), (at, cut, value, ofResponse) => {
      const valid = ofResponse ? response : request;
      const i = at % valid.length;
      const bytes = cut ? valid.slice(0, i) : valid.slice();
      if (!cut) bytes[i] = value;
      try {
        if (ofResponse) {
          // Canonical: whatever decodes re-encodes to the same bytes.
          assert.deepEqual(encodeCellResponse(decodeCellResponse(bytes, asked), asked), bytes);
          const fresh = new Reconciler(client, salted);
          fresh.start();
          fresh.receive(bytes);
        } else {
          assert.deepEqual(encodeCellRequest(decodeCellRequest(bytes)), bytes);
          respond(server, bytes);
        }
      } catch (error) {
        if (!(error instanceof SyncFrameError)) throw error;
      }
    }),
    { numRuns: 500 },
  );
});

/** Runs a session against `server` for at most `roundsMax` rounds; what ended it. */
function hostileSession(
  client: IdTrie<string>,
  server: (r: Uint8Array) => Uint8Array,
  roundsMax: number,
) {
  const reconciler = new Reconciler(client);
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

Deno.test("Reconciler abandons a session with a server that answers every sub-cell with a random cell", () => {
  const client = trieOf(makeIds(10_000, random(4), "random"));
  const ended = hostileSession(client, cellLiar(random(5)), 16);
  assert.ok(
    ended.error instanceof SyncBudgetError,
    `ended by ${ended.error} after ${ended.rounds}`,
  );
  assert.ok(ended.rounds <= 4, `${ended.rounds} rounds`);
  assert.ok(ended.bytes <= SYNC_SESSION_BYTES_MAX + SYNC_FRAME_BYTES_MAX);
  assert.match(ended.error.message, /abandoned/);
});

Deno.test("Reconciler ends a session with a server that answers one range a round within its bounds", () => {
  const client = trieOf(makeIds(2_000, random(6), "random"));
  const ended = hostileSession(client, cellLiar(random(7), 1), 2_048);
  assert.ok(ended.error === null || ended.error instanceof SyncBudgetError, `${ended.error}`);
  assert.ok(ended.rounds <= SYNC_ROUNDS_MAX, `${ended.rounds} rounds`);
  assert.ok(ended.bytes <= SYNC_SESSION_BYTES_MAX + SYNC_FRAME_BYTES_MAX);
  assert.ok(ended.peak <= SYNC_SESSION_RANGES_MAX);
});

Deno.test("Reconciler.receive() rejects a response that answers none of the ranges sent", () => {
  const client = trieOf(makeIds(100, random(8), "random"));
  const stall = (request: Uint8Array) => {
    const asked = decodeCellRequest(request).ranges;
    return encodeCellResponse({ deferred: asked.length, answers: [] }, asked);
  };
  const ended = hostileSession(client, stall, 1_024);
  assert.ok(ended.error instanceof SyncFrameError && ended.error.reason === "unexpected");
  assert.equal(ended.rounds, 1);
});

Deno.test("Reconciler converges 200k vs 200k ids differing by 10,000 over sessions of 4,096 differences", () => {
  const next = random(9);
  const both = makeIds(195_000, next, "random");
  const client = trieOf([...both, ...makeIds(5_000, next, "random")]);
  const server = trieOf([...both, ...makeIds(5_000, next, "random")]);
  let sessions = 0;
  for (;; sessions++) {
    const reconciler = new Reconciler(client, { startAt: sessions });
    let request: Uint8Array | null = reconciler.start();
    const have: Uint8Array[] = [], need: Uint8Array[] = [];
    while (request !== null) {
      const step = reconciler.receive(respond(server, request));
      (have.push(...step.have), need.push(...step.need), request = step.next);
    }
    if (have.length + need.length === 0) break;
    assert.ok(reconciler.rounds <= 8 && sessions < 12, `${reconciler.rounds} rounds, ${sessions}`);
    assert.ok(reconciler.bytes <= 512 * 1_024, `${reconciler.bytes} bytes in one session`);
    // A region moves at most 2,000 deltas each way a session.
    have.slice(0, 2_000).forEach((id) => server.add(id, "ch"));
    resolveIds(server, need.slice(0, 2_000), Infinity).forEach((e) => client.add(e.id, "ch"));
  }
  assert.ok(sessions >= 3, "the difference takes several sessions");
  assert.deepEqual(client.fingerprint([]), server.fingerprint([]));
});

Deno.test("Reconciler sessions cut by differencesMax reconcile rotating windows that cover every difference", () => {
  const next = random(10);
  const shared = makeIds(20_000, next, "random");
  const extra = makeIds(400, next, "random");
  const client = trieOf([...shared, ...extra]);
  const server = trieOf(shared);
  const found = new Set<string>();
  for (let startAt = 0; startAt < 64 && found.size < extra.length; startAt++) {
    const reconciler = new Reconciler(client, { differencesMax: 50, startAt });
    let request: Uint8Array | null = reconciler.start();
    while (request !== null) {
      const step = reconciler.receive(respond(server, request));
      step.have.forEach((id) => found.add(hex(id)));
      request = step.next;
    }
    assert.ok(!reconciler.complete && reconciler.cut === "differences");
  }
  assert.equal(found.size, extra.length, "every difference found by some window");
});
