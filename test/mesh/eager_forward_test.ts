/** Eager forwarding's bookkeeping (src/mesh/eager_forward.ts): pipelined sends, out of order. */
import assert from "node:assert/strict";
import {
  CARRIED_DELTAS_MAX,
  forwardEach,
  FORWARDED_IDS_MAX,
  FORWARDS_IN_FLIGHT_MAX,
  mayForward,
} from "../../src/mesh/eager_forward.ts";
import { newPeerState } from "../../src/mesh/_peer_state.ts";
import type { DeltaResult } from "../../src/protocol/result.ts";
import type { DeltaOrigin } from "../../src/store/region_store.ts";
import type { RegionInfo } from "../../src/mesh/topology.ts";

const TARGET = { id: "us-1", zone: "us", url: "http://us-1", publicKey: "k" } as RegionInfo;

function caughtUpPeer() {
  const peer = newPeerState(250);
  peer.acked = [0];
  return peer;
}

const delta = (id: string, channel = `c-${id}`) => ({
  id,
  channel,
  body: `{"id":"${id}"}`,
  sig: "s",
});

/** Deps whose sends wait until released (`held`, in order), then answer `answer`. */
function heldSends(peer: ReturnType<typeof caughtUpPeer>, answer: readonly DeltaResult[]) {
  const held: (() => void)[] = [];
  const deps = {
    peer: () => peer,
    label: () => "remote" as const,
    send: () =>
      new Promise<readonly DeltaResult[] | null>((resolve) => held.push(() => resolve(answer))),
    kick: () => {},
  };
  return { deps, held };
}

/** Deps that record each message's ids and answer each delta of it `accepted` when released. */
function recordedSends(
  peer: ReturnType<typeof caughtUpPeer>,
  label: () => DeltaOrigin = () => "remote",
) {
  const sent: string[][] = [];
  const held: (() => void)[] = [];
  const deps = {
    peer: () => peer,
    label,
    send: (_t: RegionInfo, _o: string, deltas: { body: string }[]) => {
      const ids = deltas.map((d) => JSON.parse(d.body).id as string);
      sent.push(ids);
      return new Promise<readonly DeltaResult[] | null>((resolve) =>
        held.push(() => resolve(ids.map((id) => ({ id, status: "accepted" }))))
      );
    },
    kick: () => {},
  };
  return { deps, sent, held };
}

Deno.test("a forward of a channel already in flight to the peer carries the deltas in flight first, in order", async () => {
  const peer = caughtUpPeer();
  const { deps, sent, held } = recordedSends(peer);
  const sends = [
    ...forwardEach([delta("m0", "_topic:jobs")], [TARGET], 0, deps),
    ...forwardEach([delta("m1", "_topic:jobs"), delta("x", "other")], [TARGET], 0, deps),
    ...forwardEach([delta("m2", "_topic:jobs")], [TARGET], 0, deps),
  ];
  assert.equal(sends.length, 3, "all three go at once");
  assert.equal(peer.unsent, false);
  assert.deepEqual(sent, [["m0"], ["m0", "m1", "x"], ["m0", "m1", "m2"]]);
  held[1](); // the second is acknowledged first: m0 and m1 are at the peer now
  await sends[1];
  sends.push(...forwardEach([delta("m3", "_topic:jobs")], [TARGET], 0, deps));
  assert.equal(sends.length, 4);
  assert.deepEqual(sent[3], ["m2", "m3"], "what the peer holds is not carried again");
  for (const release of held) release();
  await Promise.all(sends);
  assert.equal(peer.forwarding, 0);
  assert.equal(peer.forwardingChannels.size, 0, "the channels are free again");
  assert.deepEqual([...peer.forwarded].sort(), ["m0", "m1", "m2", "m3", "x"]);
});

Deno.test("a forward with more than CARRIED_DELTAS_MAX deltas in flight to carry waits for the drain", () => {
  const peer = caughtUpPeer();
  const { deps, sent, held } = recordedSends(peer);
  const batch = (from: number) =>
    Array.from(
      { length: CARRIED_DELTAS_MAX / 2 + 1 },
      (_, i) => delta(`m${from + i}`, "_topic:jobs"),
    );
  assert.equal(forwardEach(batch(0), [TARGET], 0, deps).length, 1);
  assert.equal(forwardEach(batch(100), [TARGET], 0, deps).length, 1);
  assert.equal(sent[1].length, CARRIED_DELTAS_MAX + 2, "carries the first message's deltas");
  assert.equal(forwardEach([delta("late", "_topic:jobs")], [TARGET], 0, deps).length, 0);
  assert.equal(peer.unsent, true, "the late delta goes by the drain, after the forwards");
  for (const release of held) release();
});

Deno.test("a channel in flight to the peer under another label is not carried: the delta waits for the drain", () => {
  const peer = caughtUpPeer();
  let label: "remote" | "relay" = "remote";
  const { deps, held } = recordedSends(peer, () => label);
  assert.equal(forwardEach([delta("a", "c")], [TARGET], 0, deps).length, 1);
  label = "relay";
  assert.equal(forwardEach([delta("b", "c")], [TARGET], 0, deps).length, 0);
  assert.equal(peer.unsent, true);
  for (const release of held) release();
});

Deno.test("forwards pipeline up to FORWARDS_IN_FLIGHT_MAX per peer; the next delta waits for the drain", () => {
  const peer = caughtUpPeer();
  const { deps, held } = heldSends(peer, []);
  for (let i = 0; i < FORWARDS_IN_FLIGHT_MAX; i++) {
    assert.equal(forwardEach([delta(`d${i}`)], [TARGET], 0, deps).length, 1, `forward ${i}`);
  }
  assert.equal(peer.forwarding, FORWARDS_IN_FLIGHT_MAX);
  assert.equal(mayForward(peer, 0), false);
  assert.equal(forwardEach([delta("late")], [TARGET], 0, deps).length, 0);
  assert.equal(peer.unsent, true, "the late delta goes by the drain");
  for (const release of held) release();
});

Deno.test("answers that come back out of order: only what the peer holds is skipped by the drain", async () => {
  const peer = caughtUpPeer();
  const answers = new Map<string, (results: readonly DeltaResult[] | null) => void>();
  const deps = {
    peer: () => peer,
    label: () => "remote" as const,
    send: (_t: RegionInfo, _o: string, deltas: { body: string }[]) =>
      new Promise<readonly DeltaResult[] | null>((resolve) =>
        answers.set(JSON.parse(deltas[0].body).id, resolve)
      ),
    kick: () => {},
  };
  const [first] = forwardEach([delta("cert")], [TARGET], 0, deps);
  const [second] = forwardEach([delta("gated")], [TARGET], 0, deps);
  assert.equal(peer.forwarding, 2);
  // The second arrives first and is refused (its certificate is still on its way), then the first.
  answers.get("gated")!([{
    id: "gated",
    status: "rejected",
    reason: "not_admitted",
    detail: "no certificate",
  }]);
  await second;
  answers.get("cert")!([{ id: "cert", status: "accepted" }]);
  await first;
  assert.equal(peer.forwarding, 0);
  assert.deepEqual([...peer.forwarded], ["cert"]);
  assert.equal(peer.unsent, true, "the refused one goes again, in log order, by the drain");
  assert.equal(mayForward(peer, 0), false);
});

Deno.test("a failed send in the middle of a pipeline stops forwarding until a drain caught up", async () => {
  const peer = caughtUpPeer();
  const deps = {
    peer: () => peer,
    label: () => "remote" as const,
    send: (_t: RegionInfo, _o: string, deltas: { body: string }[]) =>
      Promise.resolve(
        JSON.parse(deltas[0].body).id === "b"
          ? null
          : [{ id: JSON.parse(deltas[0].body).id, status: "accepted" } as DeltaResult],
      ),
    kick: () => {},
  };
  const sends = [
    ...forwardEach([delta("a")], [TARGET], 0, deps),
    ...forwardEach([delta("b")], [TARGET], 0, deps),
    ...forwardEach([delta("c")], [TARGET], 0, deps),
  ];
  await Promise.all(sends);
  assert.deepEqual([...peer.forwarded].sort(), ["a", "c"]);
  assert.equal(peer.unsent, true);
  assert.equal(forwardEach([delta("d")], [TARGET], 0, deps).length, 0);
});

Deno.test("acknowledged ids stay within FORWARDED_IDS_MAX, the oldest forgotten, and never pause forwarding", async () => {
  const peer = caughtUpPeer();
  for (let i = 0; i < FORWARDED_IDS_MAX; i++) peer.forwarded.add(`x${i}`);
  assert.equal(mayForward(peer, 0), true);
  const deps = {
    peer: () => peer,
    label: () => "remote" as const,
    send: () => Promise.resolve([{ id: "new", status: "accepted" } as DeltaResult]),
    kick: () => {},
  };
  await Promise.all(forwardEach([delta("new")], [TARGET], 0, deps));
  assert.equal(peer.forwarded.size, FORWARDED_IDS_MAX);
  assert.ok(peer.forwarded.has("new") && !peer.forwarded.has("x0"), "the oldest went first");
});
