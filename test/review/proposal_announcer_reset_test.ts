/**
 * Review of the outcome announcer (src/proposals/announcer.ts, docs/protocol.md §24.7): the
 * region key's seq on `_topic:mesh.proposals` was claimed as `max(index, stored head) + 1`, both
 * read from the region's own store. A region whose store was lost (a wiped data directory, a
 * fresh in-memory store after a restart, a new Upstash database) and that decides a proposal
 * before anti-entropy has brought its old announcements back signs seq 1 again over another
 * body: an equivocation by the region key, which every region then quarantines for good (§18),
 * so the region never announces again. The fix floors the seq with the region clock (in µs,
 * §8.1 allows gaps), so a seq signed after a restart is above every seq signed before it.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { ANNOUNCE_TOPIC, ProposalAnnouncer } from "../../src/proposals/announcer.ts";
import { ProposalBook } from "../../src/proposals/book.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { proposalValue, signedBallot, signedProposal, T0_MS } from "../proposals/_proposals.ts";

/** When a proposal made at `t0` (deadline one minute later, grace 30 s) is decided. */
const decided = (t0: number) => t0 + 60_000 + 30_000 + 5_000;

/** A region on a fresh store holding one proposal made at `t0` and a ballot; its announcer. */
async function regionWithProposal(regionKey: AgentKey, clock: { now: number }, t0: number) {
  clock.now = t0 + 500;
  const store = new MemoryStore();
  const book = new ProposalBook({ store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, proposals: book });
  const push = async (...deltas: unknown[]) =>
    (await (await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    })).json()).results as { status: string }[];
  const voter = AgentKey.generate();
  const { id, envelope } = signedProposal(
    AgentKey.generate(),
    proposalValue({ title: `At ${t0}`, deadline: t0 + 60_000, eligible: { agents: [voter.id] } }),
    { ts: t0 },
  );
  assert.equal((await push(envelope))[0].status, "accepted");
  const ballot = signedBallot(voter, { id, deadline: t0 + 60_000 }, "yes", { ts: t0 + 500 });
  assert.equal((await push(ballot))[0].status, "accepted");
  const published: string[] = [];
  const announcer = new ProposalAnnouncer({
    book,
    store,
    region: "eu-1",
    key: regionKey,
    now: () => clock.now,
    // Through the region's own topic route, as open_region.ts does: the seq must be accepted.
    publish: async (e) => {
      published.push(e.body);
      const answer = await app.request(`/v1/topics/${ANNOUNCE_TOPIC}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages: [e] }),
      });
      return (await answer.json()).results[0].status;
    },
  });
  return { announcer, published };
}

Deno.test("proposal review: a region whose store was lost never reuses a seq its key signed", async () => {
  const regionKey = AgentKey.generate();
  const clock = { now: 0 };
  const before = await regionWithProposal(regionKey, clock, T0_MS);
  clock.now = decided(T0_MS);
  assert.equal(await before.announcer.tick(), 1);

  // The store is lost; the region restarts on an empty one and decides another proposal.
  const later = T0_MS + 600_000;
  const after = await regionWithProposal(regionKey, clock, later);
  clock.now = decided(later);
  assert.equal(await after.announcer.tick(), 1);

  const [a, b] = [JSON.parse(before.published[0]), JSON.parse(after.published[0])];
  assert.equal(a.author, b.author);
  assert.notEqual(before.published[0], after.published[0]);
  assert.ok(
    b.seq > a.seq,
    `the region key signed seq ${a.seq} before the wipe and seq ${b.seq} after it over ` +
      "another body: an equivocation that quarantines the region key everywhere",
  );
});
