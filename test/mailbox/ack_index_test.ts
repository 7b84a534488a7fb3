/**
 * The mailbox's acknowledgement index (src/views/ack_index.ts) and the bounded read it allows
 * (src/mailbox/inbox.ts): a read stops after the messages it lists, an index that missed an
 * acknowledgement is completed by the next read, and two regions holding the same set list the
 * same mailbox whatever the arrival order, batching and reads in between.
 */
import assert from "node:assert/strict";
import { random } from "../sync/_sets.ts";
import { Agent } from "../../src/client/agent.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { encodeBase64Url } from "../../src/protocol/base64url.ts";
import { inboxChannel } from "../../src/protocol/message_kinds.ts";
import { INBOX_SCAN_ARRIVALS_MAX, readInbox } from "../../src/mailbox/inbox.ts";
import { ingest } from "../../src/region/ingest.ts";
import { RETAINED_SCAN_PAGE } from "../../src/region/retained_scan.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { ensureAckIndex } from "../../src/views/ack_index.ts";
import { countingArrivals } from "../support/counting_store.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import { idOf, T0_MS, testAgent } from "../support/signing.ts";
import { ackOf } from "./_mail.ts";

const DAY_MS = 86_400_000;
const NOW_MS = T0_MS + 10_000;

/** A signed direct message with a random (unopenable) payload: the region never opens it. */
function rawMessage(from: Agent, to: string, ttl = DAY_MS): Promise<Envelope> {
  const enc = encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const ct = encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  return from.signNextOf(
    inboxChannel(to),
    "message",
    (seq, ts, lc) => ({ seq, to, ts, lc, ttl, enc, ct }),
  );
}

async function store(target: RegionStore, envelopes: readonly Envelope[]) {
  for (let i = 0; i < envelopes.length; i += 256) {
    const { results } = await ingest(envelopes.slice(i, i + 256), target, verifyEd25519, T0_MS, {
      origin: "zone", // as a peer relays: stored whatever its expiry
    });
    for (const r of results) {
      assert.ok(r.status === "accepted" || r.status === "duplicate", JSON.stringify(r));
    }
  }
}

const STORES: [string, () => Promise<RegionStore>][] = [
  ["memory", () => Promise.resolve(new MemoryStore())],
  ["denokv", () => DenoKvStore.open(":memory:")],
];

const ids = (page: { messages: { id: string }[] }) => page.messages.map((m) => m.id);

Deno.test("readInbox() reads one page of a stuffed mailbox whose owner acknowledges", async () => {
  const memory = new MemoryStore();
  const bob = testAgent(() => T0_MS);
  const spammer = testAgent(() => T0_MS);
  const spam = [];
  for (let i = 0; i < 3 * RETAINED_SCAN_PAGE; i++) spam.push(await rawMessage(spammer, bob.key.id));
  await store(memory, spam);
  // Bob acknowledges the first three, one delta each, stored after all the spam.
  await store(memory, await Promise.all(spam.slice(0, 3).map((m) => ackOf(bob, [idOf(m)]))));
  const { store: counted, read } = countingArrivals(memory);
  const page = await readInbox(counted, bob.key.id, 0, 1, NOW_MS);
  assert.deepEqual(ids(page), [idOf(spam[3])]);
  assert.equal(page.more, true);
  assert.ok(read() <= RETAINED_SCAN_PAGE, `a read of 1 message read ${read()} arrivals`);
});

/** An acknowledgement the index missed is found by the next read's sweep, on `target`. */
async function sweepFindsLostAck(target: RegionStore): Promise<void> {
  const bob = testAgent(() => T0_MS);
  const alice = testAgent(() => T0_MS);
  const messages = [await rawMessage(alice, bob.key.id), await rawMessage(alice, bob.key.id)];
  await store(target, messages);
  // Stored by the store alone, as when a process stops between the put and the index write.
  const acked = await ackOf(bob, [idOf(messages[0])]);
  const channel = inboxChannel(bob.key.id);
  const [outcome] = await target.putDeltas([
    { id: idOf(acked), channel, author: bob.key.id, seq: 1, body: acked.body, sig: acked.sig },
  ]);
  assert.equal(outcome.status, "accepted");
  assert.deepEqual(ids(await readInbox(target, bob.key.id, 0, 10, NOW_MS)), [idOf(messages[1])]);
  // The sweep recorded it: the index is complete, and the next check reads nothing.
  assert.equal(await ensureAckIndex(target, bob.key.id), 0);
}

for (const [kind, open] of STORES) {
  Deno.test(`ensureAckIndex() finds an acknowledgement stored without its index entry (${kind})`, async () => {
    const target = await open();
    try {
      await sweepFindsLostAck(target);
    } finally {
      await target.close();
    }
  });
}

upstashTest(
  "ensureAckIndex() finds an acknowledgement stored without its index entry (upstash)",
  async (env) => {
    const target = new UpstashStore({ url: env.rest.url, token: env.rest.token });
    try {
      await sweepFindsLostAck(target);
    } finally {
      await target.close();
    }
  },
);

Deno.test("readInbox() stops at INBOX_SCAN_ARRIVALS_MAX and pages on over a dead run", async () => {
  const memory = new MemoryStore();
  const bob = testAgent(() => T0_MS);
  const alice = testAgent(() => T0_MS);
  const first = await rawMessage(alice, bob.key.id);
  const expired = [];
  for (let i = 0; i < INBOX_SCAN_ARRIVALS_MAX + 10; i++) {
    expired.push(await rawMessage(alice, bob.key.id, 1_000));
  }
  const lastOne = await rawMessage(alice, bob.key.id);
  await store(memory, [first, ...expired, lastOne]);
  const { store: counted, read } = countingArrivals(memory);
  const one = await readInbox(counted, bob.key.id, 0, 10, NOW_MS);
  assert.deepEqual(ids(one), [idOf(first)]);
  assert.equal(one.more, true, "the scan stopped before the end");
  assert.equal(one.cursor, INBOX_SCAN_ARRIVALS_MAX, "the cursor is the last arrival examined");
  assert.ok(read() <= INBOX_SCAN_ARRIVALS_MAX, `read ${read()} arrivals`);
  const two = await readInbox(memory, bob.key.id, one.cursor, 10, NOW_MS);
  assert.deepEqual(ids(two), [idOf(lastOne)]);
  assert.equal(two.more, false);
});

Deno.test("two regions holding the same mailbox set list the same messages, whatever the order", async () => {
  for (let seed = 1; seed <= 12; seed++) {
    const next = random(seed);
    // The owner's clock lags by 8 days: its acknowledgements are stamped long before the messages.
    const bob = new Agent(AgentKey.generate(), new HybridClock(() => T0_MS - 8 * DAY_MS));
    const senders = [testAgent(() => T0_MS), testAgent(() => T0_MS)];
    const messages = [];
    for (let i = 0; i < 40; i++) {
      messages.push(await rawMessage(senders[i % 2], bob.key.id, next() < 0.2 ? 1_000 : DAY_MS));
    }
    const acks = [];
    for (let i = 0; i < 12; i++) {
      const named = messages.filter(() => next() < 0.15).map(idOf);
      named.push(encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)))); // never sent
      acks.push(await ackOf(bob, named));
    }
    const all = [...messages, ...acks];
    const listings = [];
    for (let region = 0; region < 2; region++) {
      const target = new MemoryStore();
      const order = all.map((e) => ({ e, k: next() })).sort((a, b) => a.k - b.k).map((x) => x.e);
      for (let i = 0; i < order.length;) {
        const n = 1 + Math.floor(next() * 8);
        await store(target, order.slice(i, i += n));
        if (next() < 0.3) await readInbox(target, bob.key.id, 0, 5, NOW_MS); // moves the mark
      }
      listings.push(ids(await readInbox(target, bob.key.id, 0, 256, NOW_MS)).sort());
    }
    const ackedIds = new Set(
      acks.flatMap((a) => JSON.parse(a.body).ops.map((o: { elem: string }) => o.elem)),
    );
    const expected = messages.filter((m) =>
      !ackedIds.has(idOf(m)) && JSON.parse(m.body).ttl === DAY_MS
    )
      .map(idOf).sort();
    assert.deepEqual(listings[0], expected, `seed ${seed}: region 1`);
    assert.deepEqual(listings[1], expected, `seed ${seed}: region 2`);
  }
});
