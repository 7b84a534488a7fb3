/**
 * ChannelViews with a quarantined author (issue 8, item 4): reads after a write stay incremental,
 * the cache holds only what a view renders, and the view equals a fold from scratch.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { bodyOf, signBody, T0_MS } from "../support/signing.ts";

type App = ReturnType<typeof createRegionApp>;

function region() {
  const store = new MemoryStore();
  return { app: createRegionApp({ region: "views-1", store, now: () => T0_MS }), store };
}

async function push(app: App, deltas: Envelope[]): Promise<void> {
  const response = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  assert.equal(response.status, 200, await response.clone().text());
}

/** `key`'s delta `seq` in channel `c`: one map write and one counter increment. */
function delta(key: AgentKey, seq: number, value: unknown = seq): Envelope {
  const ops = [{ op: "set", key: `k${seq % 3}`, value }, { op: "inc", counter: "n", by: 1 }];
  return signBody(key, JSON.stringify(bodyOf(key, { seq, ops })));
}

/** Stores `count` deltas of `honest` and two of `cheat`, then `cheat`'s equivocation at seq 1. */
async function quarantinedChannel(app: App, honest: AgentKey, cheat: AgentKey, count: number) {
  const deltas = Array.from({ length: count }, (_, i) => delta(honest, i + 1));
  await push(app, [...deltas, delta(cheat, 1, "first"), delta(cheat, 2)]);
  await push(app, [delta(cheat, 1, "second")]); // the proof: cheat is quarantined
}

Deno.test("ChannelViews.read() after a write with a quarantined author folds in only the new delta", async () => {
  const { app, store } = region();
  const honest = AgentKey.generate(), cheat = AgentKey.generate();
  await quarantinedChannel(app, honest, cheat, 20);
  const views = new ChannelViews(store);
  const first = await views.read("c");
  assert.equal(first.state.size, 20);
  await push(app, [delta(honest, 21)]);
  const next = await views.read("c");
  assert.equal(next.caughtUp, 1);
  assert.deepEqual([next.source, next.rebuilt], ["cache", false]);
  assert.equal(next.state, first.state, "the cached fold is updated in place, not rebuilt");
  assert.equal(next.state.size, 21);
});

Deno.test("ChannelViews.read() folds again once when the quarantine grows by an author with deltas in the channel", async () => {
  const { app, store } = region();
  const honest = AgentKey.generate(), cheat = AgentKey.generate();
  await push(app, [delta(honest, 1), delta(honest, 2), delta(cheat, 1, "first"), delta(cheat, 2)]);
  const views = new ChannelViews(store);
  assert.equal((await views.read("c")).state.size, 4);
  await push(app, [delta(cheat, 1, "second")]);
  const grown = await views.read("c");
  assert.equal(grown.rebuilt, true);
  assert.equal(grown.caughtUp, 5, "every arrival read again from the store, once");
  assert.equal(grown.state.size, 2);
  assert.equal(grown.state.hasAuthor(cheat.id), false);
  await push(app, [delta(honest, 3)]);
  const after = await views.read("c");
  assert.deepEqual([after.caughtUp, after.rebuilt], [1, false]);
  assert.equal(after.state.viewText(), (await new ChannelViews(store).read("c")).state.viewText());
});

Deno.test("ChannelViews.entriesHeld counts the state the views render, not the deltas", async () => {
  const { app, store } = region();
  const honest = AgentKey.generate(), cheat = AgentKey.generate();
  await quarantinedChannel(app, honest, cheat, 10);
  const views = new ChannelViews(store);
  assert.equal((await views.read("c")).state.size, 10);
  // Keys k0, k1, k2, counter n and one author: nothing of the quarantined author, no deltas.
  assert.equal(views.entriesHeld, 5);
});

Deno.test("ChannelViews.read() renders the same view text incrementally as a cold read of the store", async () => {
  const { app, store } = region();
  const honest = AgentKey.generate(), cheat = AgentKey.generate(), late = AgentKey.generate();
  const warm = new ChannelViews(store);
  await push(app, [delta(late, 1, "first"), delta(honest, 1)]);
  await warm.read("c");
  await quarantinedChannel(app, honest, cheat, 0);
  await warm.read("c");
  await push(app, [delta(late, 1, "second"), delta(honest, 2), delta(late, 2)]);
  const text = (await warm.read("c")).state.viewText();
  assert.equal(text, (await new ChannelViews(store).read("c")).state.viewText());
  assert.equal(text, await (await app.request("/v1/channels/c")).text());
  const view = JSON.parse(text);
  assert.deepEqual(Object.keys(view.heads), [honest.id]);
  assert.equal(view.deltas, 2);
});
