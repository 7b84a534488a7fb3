/**
 * Review of 87aafbd: eager forwards now pause for a peer while more than half of
 * FORWARDED_IDS_MAX acknowledged ids wait for its drain (`mayForward`). Only the drain takes ids
 * out of `peer.forwarded`, and only when it meets their log entries after the peer's cursor. An id
 * acknowledged by a forward that never gets such an entry stays for ever: a delta that turns out to
 * be a duplicate here (stored long ago, e.g. by another instance, while this leader's index lags —
 * 87aafbd also stopped catching the index up before small peer messages, so `forward()`'s
 * `index.has` filter misses more of them), a local commit that failed after the peer stored the
 * delta, an entry whose label turned null before the drain reached it. Before 87aafbd such ids
 * were only evicted, oldest first; 87aafbd made 2,049 of them stop eager forwarding to that peer for the
 * rest of the node's life, every later delta waiting for the drain (the hop latency eager
 * forwarding exists to save). Fixed at the root: the pause is gone, ids are evicted as before.
 */
import assert from "node:assert/strict";
import { forwardEach, FORWARDED_IDS_MAX } from "../../src/mesh/eager_forward.ts";
import { newPeerState } from "../../src/mesh/_peer_state.ts";
import type { DeltaResult } from "../../src/protocol/result.ts";
import type { RegionInfo } from "../../src/mesh/topology.ts";

const TARGET = { id: "us-1", zone: "us", url: "http://us-1", publicKey: "k" } as RegionInfo;
const delta = (id: string) => ({ id, channel: `c-${id}`, body: `{"id":"${id}"}`, sig: "s" });

Deno.test("acknowledged forwards the drain never meets do not stop eager forwarding for ever", async () => {
  const peer = newPeerState(250);
  peer.acked = [0]; // caught up: every drain since found nothing to send
  let sent = 0;
  const deps = {
    peer: () => peer,
    label: () => "remote" as const,
    // The peer already holds each one (it got it by the drain long ago): `duplicate`, held.
    send: (_t: RegionInfo, _o: string, deltas: { body: string }[]) => {
      sent++;
      return Promise.resolve(deltas.map((d): DeltaResult => ({
        id: JSON.parse(d.body).id,
        status: "duplicate",
      })));
    },
    kick: () => {},
  };
  let now = 0;
  // Duplicates here, one at a time: none of them will ever have a log entry after the cursor.
  for (let i = 0; i <= FORWARDED_IDS_MAX / 2; i++) {
    await Promise.all(forwardEach([delta(`old${i}`)], [TARGET], now++, deps));
  }
  assert.equal(peer.unsent, false, "every forward was acknowledged");
  // Much later, the peer idle and caught up, nothing in flight: a new delta.
  const before = sent;
  for (const later of [60_000, 600_000, 3_600_000]) {
    await Promise.all(forwardEach([delta(`new${later}`)], [TARGET], now + later, deps));
    peer.unsent = false; // as the drain that sends it would leave it
  }
  assert.ok(sent > before, "eager forwarding to this peer never resumes");
});
