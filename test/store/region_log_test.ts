import assert from "node:assert/strict";
import { CERTIFICATES_CHANNEL } from "../../src/protocol/certificate.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import {
  FIRST_DATA_SHARD,
  GATING_LOG_SHARD,
  LOG_SHARDS,
  logBehind,
  logShardFor,
  logStart,
  logTotal,
  randomDataShard,
  readLogAfter,
} from "../../src/store/region_log.ts";
import { fakeAuthor, storedDelta } from "../support/deltas.ts";

Deno.test("randomDataShard() picks every data shard, never another, and not the one it leaves", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 2_000; i++) {
    const r = i / 2_000;
    const shard = randomDataShard(() => r);
    assert.ok(shard >= FIRST_DATA_SHARD && shard < LOG_SHARDS);
    seen.add(shard);
    const other = randomDataShard(() => r, shard);
    assert.ok(other !== shard && other >= FIRST_DATA_SHARD && other < LOG_SHARDS);
  }
  assert.equal(seen.size, LOG_SHARDS - FIRST_DATA_SHARD);
  assert.equal(randomDataShard(() => 0.999_999_999, LOG_SHARDS - 1), LOG_SHARDS - 2);
});

Deno.test("logShardFor() sends certificates to the gating shard and the rest to the writer's", () => {
  assert.equal(logShardFor(CERTIFICATES_CHANNEL, 5), GATING_LOG_SHARD);
  assert.equal(logShardFor("room", 5), 5);
  assert.equal(logShardFor("_registry", 7), 7);
});

Deno.test("logTotal() and logBehind() sum over shards, never counting a cursor past its head", () => {
  assert.equal(logTotal(logStart()), 0);
  assert.equal(logStart().length, LOG_SHARDS);
  const heads = logStart().map((_, s) => s);
  assert.equal(logTotal(heads), (LOG_SHARDS * (LOG_SHARDS - 1)) / 2);
  const cursor = heads.map((h) => Math.max(0, h - 1));
  assert.equal(logBehind(heads, cursor), LOG_SHARDS - 1);
  assert.equal(logBehind(cursor, heads), 0);
});

Deno.test("readLogAfter() reads every shard with news from its position, a page of each, until done", async () => {
  const a = new MemoryStore({ logShard: 4 }), b = new MemoryStore({ logShard: 9 });
  for (let i = 0; i < 5; i++) {
    await a.putDeltas([storedDelta("x", fakeAuthor(1), i + 1)]);
    await b.putDeltas([storedDelta("y", fakeAuthor(2), i + 1)]);
  }
  await a.putDeltas([storedDelta(CERTIFICATES_CHANNEL, fakeAuthor(3), 1)]);
  let position = logStart();
  const got: string[] = [];
  for (let reads = 0;; reads++) {
    assert.ok(reads < 10);
    const read = await readLogAfter(a, position, 2);
    assert.ok(read.entries.length <= 2 * 2, "a page of each shard with news");
    got.push(...read.entries.map((e) => `${e.shard}/${e.n}`));
    position = read.position;
    if (!read.more) break;
  }
  assert.deepEqual(got.sort(), ["1/1", "4/1", "4/2", "4/3", "4/4", "4/5"].sort());
  assert.equal(logTotal(position), 6);
  assert.deepEqual(await readLogAfter(a, position, 2), { entries: [], position, more: false });
  assert.equal((await readLogAfter(b, logStart(), 100)).entries[0].shard, 9);
});
