/**
 * Review of ebb9226 (a long-poll woken by this instance's own ingest folds the new deltas from
 * memory).
 *
 * Attack: author Q has a delta folded in channel "c". Q equivocates through another instance of
 * the region (another store object over the same Deno KV file), which stores both halves and
 * the equivocation entry. Before this instance's log poll next catches its quarantine up (up to
 * 50 ms; never, here), any honest delta pushed to "c" through this instance wakes a long-poll on
 * "c", and the woken read folds it from memory with the quarantine this instance last knew.
 *
 * Impact: the woken answer renders Q's deltas although the region's set proves Q equivocated
 * before the delta that woke it was stored — a view no snapshot of the store renders (§9.6), and
 * one a plain read at the same moment does not return. Every long-poller of "c" gets it, with
 * an entity tag it may then wait on.
 *
 * Expected: a woken read excludes every author whose equivocation was stored before the delta
 * that woke it, as a plain read does (it must read the store's equivocation mark at least).
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { ingest } from "../../src/region/ingest.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { channelWatchOf } from "../../src/views/channel_watch.ts";
import { ChannelViews } from "../../src/views/channel_views.ts";
import { bodyOf, signBody, T0_MS, testAgent } from "../support/signing.ts";

/** Long enough that only a notification, never the log poll, wakes a ticket in the test. */
const NO_POLL_MS = 3_600_000;

const push = async (store: RegionStore, ...envelopes: unknown[]) =>
  await ingest(envelopes, store, verifyEd25519, T0_MS);

Deno.test("review: a woken read never renders an author another instance proved to equivocate", async () => {
  const dir = await Deno.makeTempDir();
  const here = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  const other = await DenoKvStore.open(`${dir}/kv.sqlite3`);
  try {
    const watch = channelWatchOf(here, NO_POLL_MS);
    const views = new ChannelViews(here);
    const q = AgentKey.generate();
    const signed = (channel: string, seq: number, value: string) =>
      signBody(
        q,
        JSON.stringify(bodyOf(q, { channel, seq, ops: [{ op: "set", key: "k", value }] })),
      );
    await push(here, signed("c", 1, "mine"));
    assert.equal(JSON.parse((await views.read("c")).state.viewText()).map.k, "mine");
    const ticket = await watch.ticket("c");
    // Q equivocates in "d" through the other instance: stored there, with its evidence.
    await push(other, signed("d", 1, "one"));
    assert.equal((await push(other, signed("d", 1, "two"))).evidence.length, 1);
    // An honest delta through this instance wakes the long-poll on "c".
    await push(here, testAgent().sign("c", [{ op: "set", key: "h", value: 1 }]));
    assert.equal(await ticket.wait(0), true);
    const woken = await views.read("c", true);
    const plain = await new ChannelViews(other).read("c");
    const map = JSON.parse(woken.state.viewText()).map;
    assert.equal(map.h, 1, "the woken read reflects what woke it");
    assert.equal(map.k, undefined, "Q's delta is rendered by the woken read");
    assert.equal(woken.state.viewText(), plain.state.viewText());
    watch.close();
  } finally {
    here.close();
    other.close();
    await Deno.remove(dir, { recursive: true });
  }
});
