/**
 * Proposals on the Upstash store over a real `redis-server`: a proposal with a registry
 * electorate, ballots (one changed), the tally decided, and the announcer's compare-and-set
 * seqs and marks in the store index (two announcers on one store announce once).
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { ProposalAnnouncer } from "../../src/proposals/announcer.ts";
import { ProposalBook } from "../../src/proposals/book.ts";
import { UpstashStore } from "../../src/store/upstash_store.ts";
import { upstashTest } from "../support/upstash_rest_server.ts";
import { signBody } from "../support/signing.ts";
import { card } from "../registry/_cards.ts";
import { proposalValue, signedBallot, signedProposal, T0_MS } from "./_proposals.ts";

upstashTest("proposals are tallied and announced once on the Upstash store", async (env) => {
  const store = new UpstashStore({ url: env.rest.url, token: env.rest.token });
  const clock = { now: T0_MS + 500 };
  const proposals = new ProposalBook({ store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, proposals });
  const push = async (...deltas: unknown[]) =>
    (await (await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    })).json()).results as { status: string }[];
  try {
    const voters = [AgentKey.generate(), AgentKey.generate(), AgentKey.generate()];
    for (const v of voters) {
      const body = {
        v: 1,
        author: v.id,
        seq: 1,
        channel: REGISTRY_CHANNEL,
        ts: T0_MS - 1_000,
        lc: 0,
        ops: [{ op: "set", key: v.id, value: card("v", { review: [] }) }],
      };
      assert.equal((await push(signBody(v, JSON.stringify(body))))[0].status, "accepted");
    }
    const { id, envelope } = signedProposal(
      AgentKey.generate(),
      proposalValue({ eligible: { skill: "review" } }),
    );
    assert.equal((await push(envelope))[0].status, "accepted");
    const p = { id, deadline: T0_MS + 60_000 };
    const results = await push(
      signedBallot(voters[0], p, "no"),
      signedBallot(voters[0], p, "yes", { seq: 2, ts: T0_MS + 2_000 }),
      signedBallot(voters[1], p, "yes"),
    );
    assert.ok(results.every((r) => r.status === "accepted"));
    clock.now = T0_MS + 60_000 + 30_000 + 5_000;
    const answer = await (await app.request(`/v1/proposals/${id}`)).json();
    assert.equal(answer.state, "decided");
    assert.equal(answer.outcome, "yes"); // 2 of 3 ≥ 2
    assert.deepEqual(answer.tally.eligible, { agents: 3, weight: 3 });

    const published: string[] = [];
    const regionKey = AgentKey.generate();
    const announcer = () =>
      new ProposalAnnouncer({
        book: proposals,
        store,
        region: "eu-1",
        key: regionKey,
        now: () => clock.now,
        publish: (e) => {
          published.push(e.body);
          return Promise.resolve("accepted");
        },
      });
    const [a, b] = await Promise.all([announcer().tick(), announcer().tick()]);
    assert.equal(a + b, 1, "two announcers on one store announce once");
    const body = JSON.parse(published[0]);
    assert.deepEqual(
      [body.author, body.seq, body.topic, body.data.outcome],
      // A store without the region key's seq starts it at the region clock in µs (§24.7).
      [regionKey.id, clock.now * 1_000 + 1, "mesh.proposals", "yes"],
    );
    assert.equal(await announcer().tick(), 0);
  } finally {
    await store.close();
  }
});
