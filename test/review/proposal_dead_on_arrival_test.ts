/**
 * Review of proposals pushed after their close (docs/protocol.md §24.2, §24.7): a proposal's `ts`
 * is its author's word, and old timestamps are fine, so an agent could push today a proposal
 * signed "half an hour ago" whose deadline and grace had passed. No agent can vote on it any more
 * (every region refuses ballots from agents after `deadline + grace`, check 8f), so it is
 * decided `no_quorum` at once — and every region of the mesh signs and publishes an outcome
 * announcement for it with its region key (§24.7): one cheap delta, N signed announcements
 * fanned out to N regions. An agent's proposal past its close is now refused `expired`, as a
 * ballot is (check 8f); regions still relay one (sets must end equal).
 *
 * What stays open: a proposal that closes a second after it is pushed is still announced by
 * every region; the announcements are bounded per tick (`ANNOUNCE_PER_TICK_MAX`) and by the
 * proposer's rate limits only.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { ANNOUNCE_TOPIC, ProposalAnnouncer } from "../../src/proposals/announcer.ts";
import { ProposalBook } from "../../src/proposals/book.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { proposalValue, signedProposal, T0_MS } from "../proposals/_proposals.ts";

Deno.test("proposal review: an agent's proposal already past its close is refused expired", async () => {
  const now = T0_MS + 1_800_000; // half an hour after the proposal was "signed"
  const store = new MemoryStore();
  const book = new ProposalBook({ store, now: () => now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => now, proposals: book });
  const push = async (path: string, deltas: unknown[]) =>
    (await (await app.request(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    })).json()).results as { status: string; reason?: string }[];
  const stale = signedProposal(
    AgentKey.generate(),
    proposalValue({ eligible: { agents: [AgentKey.generate().id] } }), // closes at T0 + 90 s
  );
  const announced: string[] = [];
  const announcer = new ProposalAnnouncer({
    book,
    store,
    region: "eu-1",
    key: AgentKey.generate(),
    now: () => now,
    publish: async (e) => {
      announced.push(e.body);
      const answer = await app.request(`/v1/topics/${ANNOUNCE_TOPIC}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages: [e] }),
      });
      return (await answer.json()).results[0].status;
    },
  });
  const [result] = await push("/v1/deltas", [stale.envelope]);
  await announcer.tick();
  assert.equal(
    result.reason,
    "expired",
    `pushed 28 minutes after its close, it was ${result.status}, and announced ` +
      `${announced.length}× by this region's key`,
  );
  assert.equal(announced.length, 0);

  // One still open is taken, as before.
  const fresh = signedProposal(
    AgentKey.generate(),
    proposalValue({ deadline: now + 60_000, eligible: { agents: [AgentKey.generate().id] } }),
    { ts: now },
  );
  assert.equal((await push("/v1/deltas", [fresh.envelope]))[0].status, "accepted");
});
