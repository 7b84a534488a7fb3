/**
 * Review of 5ff2029: every ingest into the region (any channel, whenever anyone waits) calls
 * `ChannelWatch.notify`, which copied and scanned the whole set of waiting requests — up to
 * CHANNEL_WAITERS_MAX (10,000) — to find those of the channels stored in: ~0.2 ms per ingest at
 * the cap on this machine, paid by every push and relay of the instance, and again for each page
 * of the log poll. The waiters of the channels named are found directly instead.
 */
import assert from "node:assert/strict";
import { ChannelWatch } from "../../src/views/channel_watch.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";

const NO_POLL_MS = 3_600_000;

async function notifyMs(waiters: number): Promise<number> {
  const watch = new ChannelWatch(new MemoryStore(), NO_POLL_MS);
  const tickets = [];
  for (let i = 0; i < waiters; i++) tickets.push(await watch.ticket(`ch${i}`));
  const started = performance.now();
  for (let i = 0; i < 2_000; i++) watch.notify(["elsewhere"]);
  const ms = performance.now() - started;
  for (const ticket of tickets) ticket.cancel();
  return ms;
}

Deno.test("notifying a channel costs no more with many waiters on other channels", async () => {
  const few = await notifyMs(10);
  const many = await notifyMs(10_000);
  assert.ok(many < few * 10 + 30, `2,000 notifies: ${few.toFixed(1)} ms, ${many.toFixed(1)} ms`);
});
