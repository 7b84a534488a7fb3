/**
 * Conformance cases for the region log (issue 4) and its shards (issue 13): every accepted delta
 * is logged once, in the same write, in the shard `region_log.ts` names; each shard numbers its
 * entries 1, 2, 3, ... without gaps; instances sharing a store log into shards of their own; a
 * store written before the log was sharded reads as shard 0 and goes on from there.
 */
import assert from "node:assert/strict";
import { CERTIFICATES_CHANNEL } from "../../src/protocol/certificate.ts";
import {
  FIRST_DATA_SHARD,
  GATING_LOG_SHARD,
  LEGACY_LOG_SHARD,
  LOG_SHARDS,
  logTotal,
} from "../../src/store/region_log.ts";
import type {
  DeltaOrigin,
  LogEntry,
  PutOutcome,
  RegionStore,
  StoredDelta,
} from "../../src/store/region_store.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";
import { readLog } from "../support/region_log.ts";
import type { StoreFixture } from "./conformance.ts";

export { readLog };

type Case = (title: string, fn: (f: StoreFixture) => Promise<void>) => void;

const A = fakeAuthor(1), B = fakeAuthor(2);

/** Log entries without their place, in a canonical order: a call's share of the log, as a set. */
function unordered(entries: readonly LogEntry[]) {
  return entries.map(({ channel, id, origin }) => ({ channel, id, origin }))
    .sort((x, y) => x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
}

const asPut = (deltas: readonly StoredDelta[], origin: DeltaOrigin) =>
  unordered(deltas.map((d) => ({ shard: 0, n: 0, channel: d.channel, id: d.id, origin })));

/**
 * Asserts that each shard of the region log is gapless, that the heads agree, that entries are
 * where region_log.ts puts them (certificates in the gating shard, the rest in data shards, the
 * legacy shard only when `legacy` deltas were written before), and that the log holds exactly the
 * stored deltas of `channels` (the only ones written), each once, each shard in its channels'
 * arrival order. Returns how many there are.
 */
export async function assertLogMatchesArrivals(
  store: RegionStore,
  channels: readonly string[],
  legacy = 0,
): Promise<number> {
  const log = await readLog(store);
  const heads = await store.logHeads();
  assert.equal(heads.length, LOG_SHARDS);
  for (let shard = 0; shard < LOG_SHARDS; shard++) {
    const ns = log.filter((e) => e.shard === shard).map((e) => e.n);
    assert.deepEqual(ns, ns.map((_, i) => i + 1), `shard ${shard} is gapless`);
    assert.equal(heads[shard], ns.length, `head of shard ${shard}`);
  }
  assert.equal(await store.logHead(), log.length);
  assert.equal(heads[LEGACY_LOG_SHARD], legacy, "only a store of the old layout has shard 0");
  for (const e of log.slice(legacy)) {
    const gating = e.channel === CERTIFICATES_CHANNEL;
    assert.ok(gating ? e.shard === GATING_LOG_SHARD : e.shard >= FIRST_DATA_SHARD, e.channel);
  }
  for (const channel of channels) {
    const arrivals = (await store.listArrivals(channel, 0, 10_000)).deltas.map((d) => d.id);
    const logged = log.filter((e) => e.channel === channel);
    assert.deepEqual(logged.map((e) => e.id).sort(), [...arrivals].sort(), `log of ${channel}`);
    for (let shard = 0; shard < LOG_SHARDS; shard++) {
      const order = logged.filter((e) => e.shard === shard).map((e) => arrivals.indexOf(e.id));
      assert.deepEqual(order, [...order].sort((x, y) => x - y), `${channel} in shard ${shard}`);
    }
  }
  assert.ok(log.every((e) => channels.includes(e.channel)));
  return log.length;
}

export function logCases(test: Case): void {
  test("putDeltas() logs exactly the accepted deltas with their origin, in commit order", async ({ store }) => {
    assert.equal(await store.logHead(), 0);
    assert.deepEqual(await store.logHeads(), new Array(LOG_SHARDS).fill(0));
    const a1 = storedDelta("c1", A, 1), a2 = storedDelta("c2", A, 1);
    const rival = storedDelta("c1", A, 1, "rival");
    await store.putDeltas([a1, a1, rival, a2]);
    await store.putDeltas([a2, storedDelta("c1", B, 1)], "zone");
    await store.putDeltas([rival, storedDelta("c2", B, 1)], "sync");
    await store.putDeltas([]);
    const log = await readLog(store);
    // One instance, no race lost: one data shard holds it all.
    const shard = log[0].shard;
    assert.ok(shard >= FIRST_DATA_SHARD);
    assert.deepEqual(log.map((e) => [e.shard, e.n]), [1, 2, 3, 4, 5].map((n) => [shard, n]));
    // One call may commit channel by channel, so only calls are ordered, not channels in a call.
    // The rival is an equivocation: stored as evidence, so logged (and relayed) like the rest.
    assert.deepEqual(
      unordered(log.slice(0, 3)),
      asPut([a1, rival, a2], "agent"),
    );
    assert.deepEqual(log.slice(3), [
      { shard, n: 4, channel: "c1", id: storedDelta("c1", B, 1).id, origin: "zone" },
      { shard, n: 5, channel: "c2", id: storedDelta("c2", B, 1).id, origin: "sync" },
    ]);
    assert.equal(await store.logHead(), 5);
    await assertLogMatchesArrivals(store, ["c1", "c2"]);
  });

  test("putDeltas() logs certificates in the gating shard, numbered on their own", async ({ store }) => {
    const cert = (n: number) => storedDelta(CERTIFICATES_CHANNEL, fakeAuthor(50 + n), 1);
    await store.putDeltas([storedDelta("c", A, 1), cert(1), storedDelta("c", A, 2)]);
    await store.putDeltas([cert(2)], "zone");
    const heads = await store.logHeads();
    assert.equal(heads[GATING_LOG_SHARD], 2);
    assert.equal(logTotal(heads), 4);
    const gating = await store.listLog(GATING_LOG_SHARD, 0, 10);
    assert.deepEqual(gating.entries, [
      { shard: 1, n: 1, channel: CERTIFICATES_CHANNEL, id: cert(1).id, origin: "agent" },
      { shard: 1, n: 2, channel: CERTIFICATES_CHANNEL, id: cert(2).id, origin: "zone" },
    ]);
    await assertLogMatchesArrivals(store, ["c", CERTIFICATES_CHANNEL]);
  });

  test("listLog() pages a shard in order with stable cursors", async ({ store }) => {
    const all = Array.from({ length: 25 }, (_, i) => storedDelta(`c${i % 4}`, fakeAuthor(i), 1));
    await store.putDeltas(all.slice(0, 10), "remote");
    await store.putDeltas(all.slice(10), "relay");
    const shard = (await store.logHeads()).findIndex((head) => head > 0);
    const seen: LogEntry[] = [];
    let cursor = 0;
    for (let pages = 0;; pages++) {
      assert.ok(pages < 10, "pagination must terminate");
      const page = await store.listLog(shard, cursor, 7);
      assert.ok(page.entries.length <= 7);
      page.entries.forEach((e, i) => assert.equal(e.n, cursor + i + 1));
      seen.push(...page.entries);
      cursor = page.cursor;
      if (!page.more) break;
    }
    assert.deepEqual(seen, await readLog(store), "pages of 7 and of 17 agree");
    assert.deepEqual(seen.map((e) => e.n), all.map((_, i) => i + 1));
    assert.deepEqual(unordered(seen.slice(0, 10)), asPut(all.slice(0, 10), "remote"));
    assert.deepEqual(unordered(seen.slice(10)), asPut(all.slice(10), "relay"));
    await assertLogMatchesArrivals(store, ["c0", "c1", "c2", "c3"]);
    assert.equal(await store.logHead(), 25);
    assert.deepEqual(await store.listLog(shard, 25, 7), { entries: [], cursor: 25, more: false });
    assert.deepEqual(await store.listLog(shard, 40, 7), { entries: [], cursor: 40, more: false });
    assert.deepEqual(await store.listLog(shard, 3, 0), { entries: [], cursor: 3, more: true });
    assert.deepEqual((await store.listLog(shard, 18, 7)).more, false);
    assert.deepEqual(await store.listLog(shard, 18, 7), await store.listLog(shard, 18, 7));
    const other = shard === FIRST_DATA_SHARD ? shard + 1 : FIRST_DATA_SHARD;
    assert.deepEqual(await store.listLog(other, 0, 7), { entries: [], cursor: 0, more: false });
    await assert.rejects(() => store.listLog(shard, -1, 5), RangeError);
    await assert.rejects(() => store.listLog(shard, 0, 1.5), RangeError);
    await assert.rejects(() => store.listLog(LOG_SHARDS, 0, 5), RangeError);
    await assert.rejects(() => store.listLog(-1, 0, 5), RangeError);
  });

  test("putDeltas() from concurrent writers logs each accepted delta once, without gaps", async ({ store }) => {
    const writers = 6, rounds = 4;
    const origins: DeltaOrigin[] = ["agent", "zone", "remote"];
    const results = await Promise.all(Array.from({ length: writers }, async (_, w) => {
      const mine: [StoredDelta, PutOutcome, DeltaOrigin][] = [];
      for (let r = 0; r < rounds; r++) {
        const own = Array.from(
          { length: 5 },
          (_, k) => storedDelta(`c${(w + r) % 3}`, fakeAuthor(10 + w), r * 5 + k + 1),
        );
        // Every writer also pushes the same delta each round: exactly one of them stores it.
        const batch = [...own, storedDelta(`c${r % 3}`, A, r + 1)];
        const origin = origins[w % origins.length];
        const out = await store.putDeltas(batch, origin);
        batch.forEach((d, i) => mine.push([d, out[i], origin]));
      }
      return mine;
    }));
    const accepted = results.flat().filter(([, o]) => o.status === "accepted");
    assert.equal(accepted.length, writers * rounds * 5 + rounds);
    const log = await readLog(store);
    assert.equal(log.length, accepted.length);
    const originOf = new Map(accepted.map(([d, , origin]) => [`${d.channel} ${d.id}`, origin]));
    for (const e of log) assert.equal(originOf.get(`${e.channel} ${e.id}`), e.origin);
    assert.equal(originOf.size, log.length, "no delta is logged twice");
    await assertLogMatchesArrivals(store, ["c0", "c1", "c2"]);
  });

  test("instances sharing a store log each accepted delta once, each shard without gaps", async (fixture) => {
    if (fixture.reopen === undefined) return;
    const instances = [fixture.store, ...await Promise.all([1, 2, 3].map(() => fixture.reopen!()))];
    const channels = Array.from({ length: 8 }, (_, c) => `c${c}`);
    const outcomes = await Promise.all(instances.map(async (store, w) => {
      const out: PutOutcome[] = [];
      for (let r = 0; r < 10; r++) {
        const batch = [0, 1, 2].map((k) =>
          storedDelta(channels[(w * 3 + r + k) % 8], fakeAuthor(20 + w), r * 3 + k + 1)
        );
        out.push(...await store.putDeltas(batch, "agent"));
      }
      return out;
    }));
    assert.ok(outcomes.flat().every((o) => o.status === "accepted"));
    assert.equal(await assertLogMatchesArrivals(fixture.store, channels), 4 * 30);
  });

  test("a store written before the log was sharded reads as shard 0 and goes on from it", async (fixture) => {
    if (fixture.writeLegacy === undefined) return;
    const { store } = fixture;
    const a1 = storedDelta("c", A, 1), rival = storedDelta("c", A, 1, "rival");
    const cert = storedDelta(CERTIFICATES_CHANNEL, B, 1);
    await fixture.writeLegacy([a1, storedDelta("c", A, 2), cert, rival]);
    assert.deepEqual((await store.logHeads())[LEGACY_LOG_SHARD], 4);
    const legacy = await store.listLog(LEGACY_LOG_SHARD, 0, 10);
    assert.deepEqual(legacy.entries.map((e) => [e.shard, e.n, e.channel]), [
      [0, 1, "c"],
      [0, 2, "c"],
      [0, 3, CERTIFICATES_CHANNEL],
      [0, 4, "c"],
    ]);
    // The old numbering (by log entry) reads as it was; new equivocations go above it.
    const old = await store.listEquivocations(0, 10);
    assert.deepEqual(old.entries.map((e) => [e.n, e.id]), [[4, rival.id]]);
    const third = storedDelta("c", A, 2, "third");
    const out = await store.putDeltas([storedDelta("c", B, 1), third, cert]);
    assert.deepEqual(out, [
      { status: "accepted", arrival: 4 },
      { status: "equivocation", arrival: 5, existingId: storedDelta("c", A, 2).id },
      { status: "duplicate" },
    ]);
    const after = await store.listEquivocations(old.cursor, 10);
    assert.deepEqual(after.entries.map((e) => [e.n, e.id]), [[5, third.id]]);
    assert.equal(await assertLogMatchesArrivals(store, ["c", CERTIFICATES_CHANNEL], 4), 6);
  });

  test("listEquivocations() pages in the order stored, with stable cursors, every extra body", async ({ store }) => {
    await store.putDeltas([storedDelta("x", B, 1), storedDelta("c", A, 1, "a0")]);
    const thirds = ["a1", "a2", "a3"].map((salt) => storedDelta("c", A, 1, salt));
    await store.putDeltas([storedDelta("c", B, 2), thirds[0]]);
    await store.putDeltas([thirds[1], storedDelta("x", B, 1, "b1"), thirds[2]]);
    const first = await store.listEquivocations(0, 2);
    assert.equal(first.entries.length, 2);
    assert.ok(first.more);
    const rest = await store.listEquivocations(first.cursor, 10);
    assert.equal(rest.more, false);
    const all = [...first.entries, ...rest.entries];
    // Calls are ordered; channels within one call need not be.
    assert.deepEqual(all.slice(0, 1).map((e) => e.id), [thirds[0].id]);
    assert.deepEqual(
      all.slice(1).map((e) => `${e.channel} ${e.author}`).sort(),
      [`c ${A}`, `c ${A}`, `x ${B}`].sort(),
    );
    assert.deepEqual(all.map((e) => e.n), [1, 2, 3, 4], "numbered in the order stored");
    const logged = new Set((await readLog(store)).map((e) => e.id));
    for (const e of all) assert.ok(logged.has(e.id), "an equivocation's delta is logged too");
    assert.deepEqual(await store.listEquivocations(rest.cursor, 10), {
      entries: [],
      cursor: rest.cursor,
      more: false,
    });
    assert.deepEqual(await store.getHead("c", A), { contiguous: 1, max: 1, count: 4 });
  });

  test("getCursors() reads many cursors at once, 0 for those never set", async ({ store }) => {
    assert.deepEqual(await store.getCursors([]), []);
    await store.advanceCursor("fanout:eu-2", 7);
    await store.advanceCursor("fanout:eu-2:3", 2);
    const names = ["fanout:eu-2", "nothing", "fanout:eu-2:3", "fanout:eu-2"];
    assert.deepEqual(await store.getCursors(names), [7, 0, 2, 7]);
    const many = Array.from({ length: 25 }, (_, i) => `c${i}`);
    assert.deepEqual(await store.getCursors(many), many.map(() => 0));
    await assert.rejects(() => store.getCursors([""]), TypeError);
    await assert.rejects(() => store.getCursors(new Array(257).fill("x")), RangeError);
  });
}
