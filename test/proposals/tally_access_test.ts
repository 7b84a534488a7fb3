/**
 * Proposals weighted by activity in a members-only channel (src/proposals/tally_access.ts,
 * docs/protocol.md §24.5): stored and tallied like any other, but their tally is served, listed
 * and announced to that channel's members only — through the routes, the SDK and the announcer.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { signRequest } from "../../src/client/request_signer.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { MeshClient, MeshHttpError } from "../../src/client/mesh_client.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { ProposalAnnouncer } from "../../src/proposals/announcer.ts";
import { ProposalBook } from "../../src/proposals/book.ts";
import { mayReadTally, tallyPrivateTo } from "../../src/proposals/tally_access.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { proposalValue, signedBallot, signedProposal, T0_MS } from "./_proposals.ts";

const member = AgentKey.generate();
const admission = parseAdmission(
  JSON.stringify({
    v: 1,
    channels: [
      { match: "team", policy: "allowlist", authors: [member.id], read: "members" },
      { match: "news", policy: "open" },
    ],
  }),
  "test",
);

Deno.test("tallyPrivateTo() names a members-only activity channel, and only that", () => {
  assert.equal(tallyPrivateTo({ weights: { activity: "team" } }, admission), "team");
  assert.equal(tallyPrivateTo({ weights: { activity: "news" } }, admission), null);
  assert.equal(tallyPrivateTo({ weights: "equal" }, admission), null);
  assert.equal(tallyPrivateTo({ weights: { activity: "team" } }, undefined), null);
  const members = (name: string | null) => name !== "team";
  assert.equal(mayReadTally({ weights: { activity: "team" } }, admission, members), false);
  assert.equal(mayReadTally({ weights: { activity: "team" } }, admission, () => true), true);
});

/** A region holding a decided proposal weighted by activity in `team`, and a public one. */
async function region(clock: { now: number }) {
  const store = new MemoryStore();
  const proposals = new ProposalBook({ store, now: () => clock.now });
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now, proposals, admission });
  const t0 = clock.now - 500;
  const deadline = t0 + 60_000;
  const value = (weights: unknown) =>
    proposalValue({ eligible: { agents: [member.id] }, weights, deadline });
  const secret = signedProposal(AgentKey.generate(), value({ activity: "team" }), { ts: t0 });
  const open = signedProposal(AgentKey.generate(), value("equal"), { ts: t0 });
  const ballots = [secret, open].map((p) =>
    signedBallot(member, { id: p.id, deadline }, "yes", { ts: t0 + 1 })
  );
  const pushed = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [secret.envelope, open.envelope, ...ballots] }),
  });
  const { results } = await pushed.json();
  assert.ok(results.every((r: { status: string }) => r.status === "accepted"));
  return { store, proposals, app, secret, open };
}

Deno.test("MeshClient.proposal() and .proposals() sign with `key`: members read, others are refused", async () => {
  const clock = { now: Date.now() }; // the SDK signs on the wall clock
  const { app, secret, open } = await region(clock);
  const client = new MeshClient("http://localhost", {
    fetch: (input, init) => Promise.resolve(app.request(new Request(input, init))),
  });
  const refused = await client.proposal(secret.id).catch((e) => e);
  assert.ok(refused instanceof MeshHttpError && refused.status === 401, String(refused));
  const other = await client.proposal(secret.id, { key: AgentKey.generate() }).catch((e) => e);
  assert.ok(other instanceof MeshHttpError && other.status === 403, String(other));
  assert.equal((await client.proposal(secret.id, { key: member })).id, secret.id);
  assert.equal((await client.proposal(open.id)).id, open.id);
  const ids = async (key?: AgentKey) =>
    (await client.proposals({ key })).proposals.map((p) => p.id).sort();
  assert.deepEqual(await ids(), [open.id]);
  assert.deepEqual(await ids(member), [open.id, secret.id].sort());
  // A voter outside the channel still gets the proposal as signed (no tally), to vote from.
  const signed = await client.signedProposal(secret.id);
  assert.equal(signed?.id, secret.id);
  assert.deepEqual(signed?.weights, { activity: "team" });
  assert.equal(await client.signedProposal("A".repeat(43)), null);
});

Deno.test("ProposalAnnouncer.tick() does not announce a tally private to a members-only channel", async () => {
  const clock = { now: T0_MS + 500 };
  const { store, proposals, open } = await region(clock);
  clock.now = T0_MS + 60_000 + 30_000 + 5_000; // both decided
  const sent: string[] = [];
  const announcer = new ProposalAnnouncer({
    book: proposals,
    store,
    region: "eu-1",
    key: AgentKey.generate(),
    now: () => clock.now,
    admission,
    publish: (e) => {
      sent.push(e.body);
      return Promise.resolve("accepted");
    },
  });
  assert.equal(await announcer.tick(), 1);
  assert.deepEqual(sent.map((b) => JSON.parse(b).data.proposal), [open.id]);
});

Deno.test("fuzzed reads of a members-only proposal: 4xx problem+json or the member's 200, nothing stored", async () => {
  const clock = { now: Date.now() };
  const { app, store, secret, open } = await region(clock);
  const head = await store.logHead();
  const headerText = fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e]/g, ""));
  const query = fc.dictionary(
    fc.constantFrom("votes_limit", "votes_after", "state", "limit", "cursor", "x"),
    fc.oneof(fc.string({ maxLength: 40 }), fc.nat(2_000).map(String)),
    { maxKeys: 3 },
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(`/v1/proposals/${secret.id}`, `/v1/proposals/${open.id}`, "/v1/proposals"),
      query,
      fc.constantFrom("none", "member", "stranger", "garbage"),
      fc.record({ "signature-input": headerText, signature: headerText }),
      async (path, q, signer, garbage) => {
        const url = `http://localhost${path}?${new URLSearchParams(q)}`;
        let request = new Request(url);
        if (signer === "garbage") request = new Request(url, { headers: garbage });
        if (signer === "member" || signer === "stranger") {
          const key = signer === "member" ? member : AgentKey.generate();
          request = await signRequest(key, request, { nowMs: clock.now });
        }
        const response = await app.request(request);
        const type = response.headers.get("content-type") ?? "";
        const text = await response.text();
        assert.ok(response.status < 500, `${path} ${signer} answered ${response.status}`);
        if (response.status >= 400) assert.equal(type, "application/problem+json", path);
        if (response.status === 200 && path === `/v1/proposals/${secret.id}`) {
          assert.equal(signer, "member", "only the member reads the private tally");
        }
        if (response.status === 200 && path === "/v1/proposals" && signer !== "member") {
          assert.ok(!text.includes(secret.id), "only the member's list names it");
        }
      },
    ),
    { numRuns: 300 },
  );
  assert.equal(await store.logHead(), head, "hostile reads wrote a delta");
});
