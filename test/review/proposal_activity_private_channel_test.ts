/**
 * Review of activity weights (docs/protocol.md §24.2): `weights: {"activity": <channel>}` may
 * name any channel, and `GET /v1/proposals/{id}` is public. The answer's `tally.eligible.weight`
 * is `Σ 1 + ⌊log2(1 + n)⌋` over the listed agents, where n counts the deltas each signed in that
 * channel before the proposal's `ts`. So anyone learned what the private reads refuse:
 *
 * - `_inbox:<victim>`: whether agent X ever sent the victim a direct message, and about how many
 *   (§23.7 keeps mailboxes off every public read — views, tails, author progress, sync, fetch);
 *   a one-agent electorate `{"agents": [X]}` answers it with no signature and no ballot. Fixed:
 *   a proposal whose activity channel is a mailbox is `bad_proposal` (check 8h).
 * - a members-only channel (§19.3): how many deltas each member wrote, which its author progress
 *   answers only to members. Not fixed (test ignored): refusing such proposals would make ingest
 *   depend on the admission file, and hiding the weights would hide the tally itself; the choice
 *   (refuse at ingest, or serve the proposal only to members of the channel) is the maintainers'.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { inboxChannel } from "../../src/protocol/message_kinds.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { directMessage, send } from "../mailbox/_mail.ts";
import { signBody, testAgent } from "../support/signing.ts";
import { proposalValue, signedProposal, T0_MS } from "../proposals/_proposals.ts";

Deno.test("proposal review: activity weights over a mailbox are refused (they told anyone who wrote to whom)", async () => {
  const store = new MemoryStore();
  const clock = { now: T0_MS };
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now });
  const push = async (...deltas: unknown[]) =>
    (await (await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    })).json()).results as { status: string; reason?: string }[];
  const victim = testAgent(() => clock.now);
  const sender = testAgent(() => clock.now);
  const silent = testAgent(() => clock.now);
  for (let i = 0; i < 3; i++) {
    const [result] = await send(app, [await directMessage(sender, victim.key.id, { i })]);
    assert.equal(result.status, "accepted");
  }
  // The channel routes keep the mailbox private.
  const view = await app.request(`/v1/channels/${inboxChannel(victim.key.id)}`);
  assert.equal(view.status, 403);
  await view.body?.cancel();

  clock.now = T0_MS + 1_000;
  const probe = (who: AgentKey) =>
    signedProposal(
      AgentKey.generate(),
      proposalValue({
        deadline: clock.now + 60_000,
        eligible: { agents: [who.id] },
        weights: { activity: inboxChannel(victim.key.id) },
      }),
      { ts: clock.now },
    );
  const asked = [probe(sender.key), probe(silent.key)];
  const results = await push(...asked.map((p) => p.envelope));
  // Before the fix both were accepted, and the public answers said 3 (sender: 1 + ⌊log2 4⌋)
  // and 1 (silent): who wrote to the victim's mailbox, and about how often.
  assert.deepEqual(results.map((r) => r.reason), ["bad_proposal", "bad_proposal"]);
  for (const { id } of asked) {
    const answer = await app.request(`/v1/proposals/${id}`);
    assert.equal(answer.status, 404);
    await answer.body?.cancel();
  }
});

Deno.test({
  name:
    "proposal review (open): activity weights over a members-only channel tell anyone each member's count",
  // Not fixed: see the module doc. `tally.eligible.weight` below is public, while the channel's
  // author progress answers only its members (§19.3).
  ignore: true,
  fn: async () => {
    const member = AgentKey.generate();
    const admission = parseAdmission(
      JSON.stringify({
        v: 1,
        channels: [{
          match: "team",
          policy: "allowlist",
          authors: [member.id],
          read: "members",
        }],
      }),
      "test",
    );
    const store = new MemoryStore();
    const app = meshRegionApp({ region: "eu-1", store, now: () => T0_MS + 5_000, admission });
    const push = async (...deltas: unknown[]) =>
      (await (await app.request("/v1/deltas", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ deltas }),
      })).json()).results as { status: string; reason?: string }[];
    for (let seq = 1; seq <= 7; seq++) {
      const body = {
        v: 1,
        author: member.id,
        seq,
        channel: "team",
        ts: T0_MS + seq,
        lc: 0,
        ops: [{ op: "set", key: "k", value: seq }],
      };
      assert.equal((await push(signBody(member, JSON.stringify(body))))[0].status, "accepted");
    }
    const progress = await app.request(`/v1/channels/team/authors/${member.id}`);
    assert.equal(progress.status, 401, "the member's progress is members-only");
    await progress.body?.cancel();
    const { id, envelope } = signedProposal(
      AgentKey.generate(),
      proposalValue({
        deadline: T0_MS + 61_000,
        eligible: { agents: [member.id] },
        weights: { activity: "team" },
      }),
      { ts: T0_MS + 1_000 },
    );
    const [result] = await push(envelope);
    if (result.status !== "accepted") return; // refused at ingest: nothing to read
    const answer = await app.request(`/v1/proposals/${id}`);
    if (answer.status !== 200) return; // served to members only
    const json = await answer.json();
    assert.notEqual(json.tally.eligible.weight, 4, "1 + ⌊log2(1 + 7)⌋: the member's count, public");
  },
});
