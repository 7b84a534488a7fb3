/**
 * The outcome announcer on one store: it announces a decided proposal once, and a publish that
 * fails (an error, or a refusal) leaves it to be tried again on the next tick.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { ProposalAnnouncer } from "../../src/proposals/announcer.ts";
import { ProposalBook } from "../../src/proposals/book.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { proposalValue, signedBallot, signedProposal, T0_MS } from "./_proposals.ts";

Deno.test("a failed announcement is tried again on the next tick, then not repeated", async () => {
  const store = new MemoryStore();
  const clock = { now: T0_MS + 500 };
  const proposals = new ProposalBook({ store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, proposals });
  const voter = AgentKey.generate();
  const { id, envelope } = signedProposal(
    AgentKey.generate(),
    proposalValue({ eligible: { agents: [voter.id] } }),
  );
  const ballot = signedBallot(voter, { id, deadline: T0_MS + 60_000 }, "yes");
  const pushed = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [envelope, ballot] }),
  });
  assert.equal(pushed.status, 200);
  await pushed.body?.cancel();
  clock.now = T0_MS + 60_000 + 30_000 + 5_000;
  const answers = ["failed", "rejected", "accepted"];
  const sent: string[] = [];
  const announcer = new ProposalAnnouncer({
    book: proposals,
    store,
    region: "eu-1",
    key: AgentKey.generate(),
    now: () => clock.now,
    publish: (e) => {
      sent.push(e.body);
      const answer = answers.shift()!;
      return answer === "failed" ? Promise.reject(new Error("down")) : Promise.resolve(answer);
    },
  });
  assert.equal(await announcer.tick(), 0); // the publish threw
  assert.equal(await announcer.tick(), 0); // the region refused it
  assert.equal(await announcer.tick(), 1);
  assert.equal(await announcer.tick(), 0); // announced: never again
  assert.equal(sent.length, 3);
  const seqs = sent.map((b) => JSON.parse(b).seq);
  assert.equal(new Set(seqs).size, 3, "each attempt signs with a seq of its own");
  assert.equal(JSON.parse(sent[2]).data.outcome, "yes");
});
