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
 *   answers only to members. Fixed on the read side (src/proposals/tally_access.ts, §24.5): such a
 *   proposal is stored and tallied like any other — refusing it at ingest would make ingest depend
 *   on the admission file, and regions with different files would then hold different sets — but
 *   it is served, listed and announced only to that channel's members, like the channel itself.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { inboxChannel } from "../../src/protocol/message_kinds.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { directMessage, send } from "../mailbox/_mail.ts";
import { signRequest } from "../../src/client/request_signer.ts";
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

Deno.test("proposal review: activity weights over a members-only channel are served to its members only", async () => {
  const member = AgentKey.generate();
  const stranger = AgentKey.generate();
  const admission = parseAdmission(
    JSON.stringify({
      v: 1,
      channels: [{ match: "team", policy: "allowlist", authors: [member.id], read: "members" }],
    }),
    "test",
  );
  const store = new MemoryStore();
  const nowMs = T0_MS + 5_000;
  const app = meshRegionApp({ region: "eu-1", store, now: () => nowMs, admission });
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
  const value = (weights: { activity: string } | "equal") =>
    proposalValue({ deadline: T0_MS + 61_000, eligible: { agents: [member.id] }, weights });
  const secret = signedProposal(AgentKey.generate(), value({ activity: "team" }), {
    ts: T0_MS + 1_000,
  });
  const open = signedProposal(AgentKey.generate(), value("equal"), { ts: T0_MS + 1_000 });
  // Stored like any proposal: every region holds the same set, whatever its admission file.
  assert.deepEqual((await push(secret.envelope, open.envelope)).map((r) => r.status), [
    "accepted",
    "accepted",
  ]);
  const get = async (path: string, key?: AgentKey) => {
    const request = new Request(`http://localhost${path}`);
    const response = await app.request(key ? await signRequest(key, request, { nowMs }) : request);
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      json: await response.json(),
    };
  };

  const unsigned = await get(`/v1/proposals/${secret.id}`);
  assert.equal(unsigned.status, 401, "1 + ⌊log2(1 + 7)⌋ = 4 would tell the member's count");
  assert.equal(unsigned.type, "application/problem+json");
  const foreign = await get(`/v1/proposals/${secret.id}`, stranger);
  assert.equal(foreign.status, 403);
  assert.equal(foreign.type, "application/problem+json");
  const own = await get(`/v1/proposals/${secret.id}`, member);
  assert.equal(own.status, 200);
  assert.equal(own.json.tally.eligible.weight, 4, "members read the tally");
  assert.equal((await get(`/v1/proposals/${open.id}`)).status, 200, "other proposals stay public");

  const listed = async (key?: AgentKey) =>
    ((await get("/v1/proposals", key)).json.proposals as { id: string }[]).map((p) => p.id).sort();
  assert.deepEqual(await listed(), [open.id]);
  assert.deepEqual(await listed(stranger), [open.id]);
  assert.deepEqual(await listed(member), [open.id, secret.id].sort());
});
