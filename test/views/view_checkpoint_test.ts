/**
 * View checkpoints (issue 13): a cold instance starts a channel from its checkpoint and folds
 * only the arrivals after it, rendering byte for byte what a fold of every arrival renders; a
 * checkpoint that is lost, corrupt, ahead of the store or folded before its author was
 * quarantined is never used; a write that dies half-way leaves the old one whole.
 */
import assert from "node:assert/strict";
import { channelDirectoryOf, listChannels } from "../../src/views/channel_directory.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { CHECKPOINT_DELTAS_PER_CHUNK, CheckpointJob } from "../../src/views/checkpoint_job.ts";
import {
  CHECKPOINT_CHUNK_CHARS,
  CHECKPOINT_INDEX_ROOT,
  chunkText,
  parsePointer,
  pointerKey,
  readCheckpoint,
  readPointers,
} from "../../src/views/view_checkpoint.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { IndexKey, RegionStore } from "../../src/store/region_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { fakeAuthor } from "../support/deltas.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import { CHANNEL, equivocation, record, viewFromScratch, Writer } from "./_checkpoint_fixtures.ts";

function job(store: RegionStore, instance = "i1"): CheckpointJob {
  return new CheckpointJob({
    region: "r",
    store,
    instance,
    channels: (after, limit) => listChannels(store, "", after, limit),
    minDeltas: 100,
    everyDeltas: 100,
  });
}

/** The keys of every chunk the store holds for the channel. */
async function chunkKeysHeld(store: RegionStore): Promise<IndexKey[]> {
  const page = await store.listIndex([CHECKPOINT_INDEX_ROOT, "chunk", CHANNEL], { limit: 1_000 });
  return page.entries.map((e) => e.key);
}

/** Checkpoints a channel of 1,500 deltas with 400 long keys (several chunks), then 200 more. */
async function checkpointed(store: RegionStore): Promise<Writer> {
  const writer = new Writer();
  await writer.fill(store, 1_500);
  const long = Array.from(
    { length: 400 },
    (_, i) =>
      record(fakeAuthor(50), i + 1, [{ op: "set", key: `${"x".repeat(150)}${i}`, value: i }]),
  );
  await store.putDeltas(long);
  assert.equal((await job(store).write(CHANNEL)).outcome, "written");
  const { pointer } = (await readPointers(store, [CHANNEL]))[0];
  assert.ok(pointer !== null && pointer.chunks > 1, "the checkpoint spans several chunks");
  await writer.fill(store, 200);
  return writer;
}

async function coldReadMatches(store: RegionStore): Promise<void> {
  await checkpointed(store);
  const read = await new ChannelViews(store).read(CHANNEL);
  assert.equal(read.source, "checkpoint");
  assert.equal(read.caughtUp, 200, "only the arrivals after the checkpoint are read");
  assert.equal(read.state.viewText(), await viewFromScratch(store));
}

Deno.test("ChannelViews.read() on a cold instance starts from the checkpoint and renders the full fold (memory)", async () => {
  await coldReadMatches(new MemoryStore());
});

Deno.test("ChannelViews.read() on a cold instance starts from the checkpoint and renders the full fold (Deno KV)", async () => {
  const store = await DenoKvStore.open(":memory:");
  try {
    await coldReadMatches(store);
  } finally {
    await store.close();
  }
});

upstashTest(
  "ChannelViews.read() on a cold instance starts from the checkpoint and renders the full fold (Upstash)",
  async (env) => {
    const store = new UpstashStore({ url: env.rest.url, token: env.rest.token });
    try {
      await coldReadMatches(store);
    } finally {
      await store.close();
    }
  },
);

/** Ways a checkpoint goes bad in the store, each applied to a freshly checkpointed channel. */
const CORRUPTIONS: [string, (store: RegionStore, raw: string) => Promise<unknown>][] = [
  ["a chunk altered", async (store) => {
    const [first] = await store.listIndex([CHECKPOINT_INDEX_ROOT, "chunk", CHANNEL], { limit: 1 })
      .then((p) => p.entries);
    await store.writeIndex({ set: [{ key: first.key, value: first.value.replace("k1", "k2") }] });
  }],
  ["a chunk lost", async (store) => {
    const keys = await chunkKeysHeld(store);
    await store.writeIndex({ delete: [keys.at(-1)!] });
  }],
  [
    "the pointer torn",
    (store, raw) =>
      store.writeIndex({ set: [{ key: pointerKey(CHANNEL), value: raw.slice(0, 40) }] }),
  ],
  ["the fingerprint wrong", (store, raw) => {
    const pointer = { ...JSON.parse(raw), fingerprint: "AAAAAAAAAAAAAAAAAAAAAA" };
    return store.writeIndex({
      set: [{ key: pointerKey(CHANNEL), value: JSON.stringify(pointer) }],
    });
  }],
  ["the cursor past the store's arrivals (a store reset under a kept index)", (store, raw) => {
    const pointer = { ...JSON.parse(raw), cursor: 10_000 };
    return store.writeIndex({
      set: [{ key: pointerKey(CHANNEL), value: JSON.stringify(pointer) }],
    });
  }],
];

Deno.test("ChannelViews.read() never uses a checkpoint that fails verification: the view is the full fold", async (t) => {
  for (const [name, corrupt] of CORRUPTIONS) {
    await t.step(name, async () => {
      const store = new MemoryStore();
      await checkpointed(store);
      const [raw] = await store.readIndex([pointerKey(CHANNEL)]);
      await corrupt(store, raw!);
      assert.equal((await readCheckpoint(store, CHANNEL)).outcome, "rejected");
      const read = await new ChannelViews(store).read(CHANNEL);
      assert.equal(read.source, "store");
      assert.equal(read.state.viewText(), await viewFromScratch(store));
      // The job writes a good one over it.
      assert.equal((await job(store).write(CHANNEL)).outcome, "written");
      assert.equal((await new ChannelViews(store).read(CHANNEL)).source, "checkpoint");
    });
  }
});

Deno.test("ChannelViews.read() does not use a checkpoint holding an author quarantined since: no op of theirs leaks", async () => {
  const store = new MemoryStore();
  await checkpointed(store);
  const warm = new ChannelViews(store);
  await warm.read(CHANNEL);
  await store.putDeltas([equivocation(fakeAuthor(1), 3)]); // author 1 is in the checkpoint
  const cold = await new ChannelViews(store).read(CHANNEL);
  assert.equal(cold.source, "store");
  assert.equal(cold.state.hasAuthor(fakeAuthor(1)), false);
  const expected = await viewFromScratch(store);
  assert.equal(cold.state.viewText(), expected);
  const again = await warm.read(CHANNEL);
  assert.equal(again.rebuilt, true);
  assert.equal(again.source, "store", "the checkpoint holds the author: built from the arrivals");
  assert.equal(again.state.viewText(), expected);
});

Deno.test("ChannelViews.read() keeps using a checkpoint when the newly quarantined author is only in the tail", async () => {
  const store = new MemoryStore();
  await checkpointed(store);
  const late = fakeAuthor(77);
  await store.putDeltas([
    record(late, 1, [{ op: "set", key: "late", value: 1 }]),
    equivocation(late, 1),
  ]);
  const read = await new ChannelViews(store).read(CHANNEL);
  assert.equal(read.source, "checkpoint");
  assert.equal(read.state.hasAuthor(late), false);
  assert.equal(read.state.viewText(), await viewFromScratch(store));
});

Deno.test("a checkpoint written under a quarantine carries the authors it left out and is used under it", async () => {
  const store = new MemoryStore();
  const writer = new Writer();
  await writer.fill(store, 600);
  await store.putDeltas([equivocation(fakeAuthor(2), 5)]);
  assert.equal((await job(store).write(CHANNEL)).outcome, "written");
  const loaded = await readCheckpoint(store, CHANNEL);
  assert.ok(loaded.outcome === "loaded");
  assert.deepEqual([...loaded.view.dropped], [fakeAuthor(2)]);
  await writer.fill(store, 50);
  const read = await new ChannelViews(store).read(CHANNEL);
  assert.equal(read.source, "checkpoint");
  assert.equal(read.state.viewText(), await viewFromScratch(store));
});

Deno.test("a checkpoint write that dies before its pointer swap leaves the old checkpoint whole, and the next write cleans up", async () => {
  const backing = new MemoryStore();
  const writer = new Writer();
  await writer.fill(backing, 500);
  assert.equal((await job(backing).write(CHANNEL)).outcome, "written");
  await writer.fill(backing, 300);
  const dying = new Proxy(backing, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop !== "writeIndex") return typeof value === "function" ? value.bind(target) : value;
      return (write: Parameters<RegionStore["writeIndex"]>[0]) => {
        const swap = write.expect?.some((e) => e.key.join() === pointerKey(CHANNEL).join());
        return swap ? Promise.reject(new Error("crash")) : target.writeIndex(write);
      };
    },
  });
  await assert.rejects(job(dying).write(CHANNEL), /crash/);
  const read = await new ChannelViews(backing).read(CHANNEL);
  assert.deepEqual([read.source, read.caughtUp], ["checkpoint", 300], "the old checkpoint, whole");
  assert.equal(read.state.viewText(), await viewFromScratch(backing));
  assert.equal((await job(backing).write(CHANNEL)).outcome, "written");
  const { pointer } = (await readPointers(backing, [CHANNEL]))[0];
  assert.equal((await chunkKeysHeld(backing)).length, pointer!.chunks, "no chunk left behind");
});

Deno.test("two checkpoint writers racing from one pointer: one swaps, the other's chunks are removed", async () => {
  const store = new MemoryStore();
  await new Writer().fill(store, 300);
  const [previous] = await readPointers(store, [CHANNEL]);
  const outcomes = await Promise.all([
    job(store, "a").write(CHANNEL, previous),
    job(store, "b").write(CHANNEL, previous),
  ]);
  assert.deepEqual(outcomes.map((o) => o.outcome).sort(), ["lost", "written"]);
  const { pointer } = (await readPointers(store, [CHANNEL]))[0];
  assert.equal((await chunkKeysHeld(store)).length, pointer!.chunks);
  assert.equal((await new ChannelViews(store).read(CHANNEL)).source, "checkpoint");
});

Deno.test("CheckpointJob.tick() writes due channels only, as the lease holder only", async () => {
  let now = 1_000_000;
  const store = new MemoryStore();
  const writer = new Writer();
  await writer.fill(store, 150);
  await store.putDeltas([{
    ...record(fakeAuthor(9), 1, [{ op: "inc", counter: "c", by: 1 }]),
    channel: "small",
  }]);
  await channelDirectoryOf(store).record([CHANNEL, "small"]); // what ingest does before a write
  const options = {
    region: "r",
    store,
    channels: (after: string | undefined, limit: number) => listChannels(store, "", after, limit),
    minDeltas: 100,
    everyDeltas: 300,
    now: () => now,
  };
  const leader = new CheckpointJob({ ...options, instance: "leader" });
  const other = new CheckpointJob({ ...options, instance: "other" });
  assert.deepEqual(await leader.tick(), { leader: true, examined: 2, written: 1, deferred: 0 });
  assert.equal((await other.tick()).leader, false);
  assert.equal((await leader.tick()).written, 0, "nothing new: not due");
  await writer.fill(store, 299);
  assert.equal((await leader.tick()).written, 0, "299 arrivals behind: not due");
  now += 600_000;
  assert.equal((await leader.tick()).written, 1, "behind, and older than the age limit");
  await writer.fill(store, 300);
  assert.equal((await leader.tick()).written, 1, "300 arrivals behind");
  const { pointer } = (await readPointers(store, [CHANNEL]))[0];
  assert.equal(pointer?.cursor, 749);
  assert.equal((await readPointers(store, ["small"]))[0].pointer, null, "under minDeltas");
});

Deno.test("CheckpointJob.tick() never folds _registry (read through the discovery index) or a topic", async () => {
  const store = new MemoryStore();
  // Stored under each channel (the store does not read bodies), distinct ids per channel.
  const many = (channel: string, salt: number) =>
    Array.from({ length: 120 }, (_, i) => ({
      ...record(fakeAuthor(i), 1, [{ op: "set", key: fakeAuthor(i), value: i }], salt),
      channel,
    }));
  for (const [salt, channel] of [REGISTRY_CHANNEL, "_topic:news", CHANNEL].entries()) {
    await store.putDeltas(many(channel, salt));
    await channelDirectoryOf(store).record([channel]);
  }
  const job = new CheckpointJob({
    region: "r",
    store,
    channels: (after: string | undefined, limit: number) => listChannels(store, "", after, limit),
    minDeltas: 100,
    instance: "leader",
  });
  assert.deepEqual(await job.tick(), { leader: true, examined: 3, written: 1, deferred: 0 });
  const pointers = await readPointers(store, [REGISTRY_CHANNEL, "_topic:news", CHANNEL]);
  assert.deepEqual(pointers.map((p) => p.pointer !== null), [false, false, true]);
});

Deno.test("chunkText() cuts at CHECKPOINT_CHUNK_CHARS, never inside a surrogate pair, and joins back", () => {
  const text = "a".repeat(CHECKPOINT_CHUNK_CHARS - 1) + "😀" + "b".repeat(CHECKPOINT_CHUNK_CHARS);
  const chunks = chunkText(text);
  assert.equal(chunks.join(""), text);
  assert.ok(chunks.every((c) => c.length <= CHECKPOINT_CHUNK_CHARS && c.isWellFormed()));
  assert.equal(chunks[0].length, CHECKPOINT_CHUNK_CHARS - 1);
  assert.deepEqual(chunkText(""), [""]);
  assert.equal(parsePointer("{"), null);
});

Deno.test("CheckpointJob.tick() writes a large state again only after CHECKPOINT_DELTAS_PER_CHUNK arrivals per chunk", async () => {
  const store = new MemoryStore();
  const writer = await checkpointed(store); // several chunks, then 200 arrivals
  await channelDirectoryOf(store).record([CHANNEL]);
  const { pointer } = (await readPointers(store, [CHANNEL]))[0];
  const chunks = pointer!.chunks;
  const leader = job(store); // everyDeltas 100: below chunks × 250
  assert.equal((await leader.tick()).written, 0, `${chunks} chunks: 200 arrivals are not enough`);
  await writer.fill(store, chunks * CHECKPOINT_DELTAS_PER_CHUNK - 200);
  assert.equal((await leader.tick()).written, 1);
});
