/**
 * Proposals on one region over its HTTP API (docs/protocol.md §24): what ingest refuses, the
 * tally and outcome over time, electorates from the registry as of the proposal and weights from
 * activity, ballot pages, the list, and hostile queries (4xx problem+json, never a 500).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { card } from "../registry/_cards.ts";
import { signBody } from "../support/signing.ts";
import { proposalValue, signedBallot, signedProposal, T0_MS } from "./_proposals.ts";

function region() {
  const clock = { now: T0_MS + 500 };
  const store = new MemoryStore();
  const app = meshRegionApp({ region: "eu-1", store, now: () => clock.now });
  const push = async (...deltas: unknown[]) => {
    const response = await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas }),
    });
    return (await response.json()).results as { status: string; reason?: string }[];
  };
  // deno-lint-ignore no-explicit-any
  const get = async (path: string): Promise<{ status: number; json: any }> => {
    const response = await app.request(path);
    return { status: response.status, json: await response.json() };
  };
  return { clock, store, app, push, get };
}

const keys = (n: number) => Array.from({ length: n }, () => AgentKey.generate());
const DECIDED = T0_MS + 60_000 + 30_000 + 5_000;

Deno.test("ingest refuses malformed proposals and ballots with bad_proposal / bad_vote", async () => {
  const { push } = region();
  const author = AgentKey.generate();
  const bad = [
    proposalValue({ options: ["only"] }),
    proposalValue({ options: ["a", "a"] }),
    proposalValue({ deadline: T0_MS + 10 }),
    proposalValue({ threshold: [1, 2] }),
    proposalValue({ eligible: { agents: [author.id, author.id] } }),
    proposalValue({ weights: { activity: "../x" } }),
    proposalValue({ surprise: true }),
  ];
  for (const value of bad) {
    const [result] = await push(signedProposal(author, value).envelope);
    assert.equal(result.reason, "bad_proposal", JSON.stringify(value));
  }
  // The key must be the delta's own <author>:<seq>.
  const wrongKey = signedProposal(author, proposalValue(), { seq: 2 });
  const body = JSON.parse(wrongKey.envelope.body);
  body.ops[0].key = `${author.id}:1`;
  assert.equal((await push(signBody(author, JSON.stringify(body))))[0].reason, "bad_proposal");
  // A ballot for someone else, or with two ops, or a bad channel.
  const { id } = signedProposal(author, proposalValue());
  const voter = AgentKey.generate();
  const ballot = JSON.parse(signedBallot(voter, { id, deadline: T0_MS + 60_000 }, "yes").body);
  for (
    const mutate of [
      (b: typeof ballot) => b.ops[0].key = author.id,
      (b: typeof ballot) => b.ops.push(b.ops[0]),
      (b: typeof ballot) => b.channel = "_votes:nope",
      (b: typeof ballot) => delete b.ops[0].value.grace,
    ]
  ) {
    const copy = structuredClone(ballot);
    mutate(copy);
    assert.equal((await push(signBody(voter, JSON.stringify(copy))))[0].reason, "bad_vote");
  }
});

Deno.test("a proposal is tallied, decided after deadline + grace + margin, and lists its ballots", async () => {
  const { clock, push, get } = region();
  const [author, ...voters] = keys(7);
  const value = proposalValue({ eligible: { agents: voters.map((v) => v.id) } });
  const { id, envelope } = signedProposal(author, value);
  assert.equal((await push(envelope))[0].status, "accepted");
  const p = { id, deadline: T0_MS + 60_000 };
  const ballots = voters.slice(0, 4).map((v) => signedBallot(v, p, "yes"));
  ballots.push(signedBallot(voters[4], p, "no"));
  ballots.push(signedBallot(voters[4], p, "yes", { seq: 2, ts: T0_MS + 2_000 })); // changes its mind
  ballots.push(signedBallot(voters[5], p, "yes", { ts: T0_MS + 60_001 })); // signed too late
  assert.ok((await push(...ballots)).every((r) => r.status === "accepted"));

  let answer = (await get(`/v1/proposals/${id}`)).json;
  assert.equal(answer.state, "open");
  assert.equal(answer.outcome, null);
  assert.equal(answer.leading, "yes");
  assert.deepEqual(answer.tally.options, [{ option: "yes", weight: 5 }, {
    option: "no",
    weight: 0,
  }]);
  assert.deepEqual(answer.tally.eligible, { agents: 6, weight: 6 });
  assert.equal(answer.tally.needed, 4);
  assert.equal(answer.tally.late, 1);
  assert.equal(answer.votes.length, 5);
  assert.deepEqual(answer.envelope, envelope);

  clock.now = T0_MS + 60_000;
  assert.equal((await get(`/v1/proposals/${id}`)).json.state, "closing");
  // An agent may still push a ballot signed in time until deadline + grace, not after.
  clock.now = T0_MS + 60_000 + 30_000;
  const closed = await push(signedBallot(voters[5], p, "no", { seq: 2, ts: T0_MS + 59_000 }));
  assert.equal(closed[0].reason, "expired");
  clock.now = DECIDED;
  answer = (await get(`/v1/proposals/${id}?votes_limit=2`)).json;
  assert.equal(answer.state, "decided");
  assert.equal(answer.outcome, "yes");
  assert.equal(answer.votes.length, 2);
  const rest = (await get(`/v1/proposals/${id}?votes_limit=10&votes_after=${answer.votesNext}`))
    .json;
  assert.equal(rest.votes.length, 3);
  assert.equal(rest.votesNext, null);
  const all = [...answer.votes, ...rest.votes].map((v: { voter: string }) => v.voter);
  assert.deepEqual(all, [...all].sort());
  const list = (await get("/v1/proposals?state=decided")).json;
  assert.deepEqual(list.proposals.map((x: { id: string }) => x.id), [id]);
  assert.equal(list.proposals[0].outcome, "yes");
  assert.deepEqual((await get("/v1/proposals?state=open")).json.proposals, []);
});

Deno.test("the registry electorate is the cards signed before the proposal; activity weighs ballots", async () => {
  const { clock, push, get } = region();
  const [author, early, also, late, other] = keys(5);
  const announce = (key: AgentKey, skills: Record<string, string[]>, ts: number) =>
    signBody(
      key,
      JSON.stringify({
        v: 1,
        author: key.id,
        seq: 1,
        channel: REGISTRY_CHANNEL,
        ts,
        lc: 0,
        ops: [{ op: "set", key: key.id, value: card("a", skills) }],
      }),
    );
  await push(
    announce(early, { review: ["code"] }, T0_MS - 10_000),
    announce(also, { review: [] }, T0_MS - 5_000),
    announce(late, { review: ["code"] }, T0_MS + 100), // after the proposal: not eligible
    announce(other, { translate: ["code"] }, T0_MS - 10_000),
  );
  // `early` was active in channel "work" before the proposal: 3 deltas → weight 1 + ⌊log2 4⌋ = 3.
  for (let seq = 1; seq <= 3; seq++) {
    await push(signBody(
      early,
      JSON.stringify({
        v: 1,
        author: early.id,
        seq,
        channel: "work",
        ts: T0_MS - 1_000 + seq,
        lc: 0,
        ops: [{ op: "inc", counter: "n", by: 1 }],
      }),
    ));
  }
  const bySkill = signedProposal(author, proposalValue({ eligible: { skill: "review" } }));
  const byTag = signedProposal(
    author,
    proposalValue({ eligible: { tag: "CODE" }, weights: { activity: "work" } }),
    { seq: 2 },
  );
  await push(bySkill.envelope, byTag.envelope);
  const p = { deadline: T0_MS + 60_000 };
  await push(
    signedBallot(early, { ...p, id: bySkill.id }, "yes"),
    signedBallot(late, { ...p, id: bySkill.id }, "yes"),
    signedBallot(early, { ...p, id: byTag.id }, "no"),
  );
  clock.now = DECIDED;
  const skill = (await get(`/v1/proposals/${bySkill.id}`)).json;
  assert.deepEqual(skill.tally.eligible, { agents: 2, weight: 2 });
  assert.equal(skill.outcome, "no_quorum"); // 1 of 2, needs 2
  const lateVote = skill.votes.find((v: { voter: string }) => v.voter === late.id);
  assert.equal(lateVote.status, "not_eligible");
  const tag = (await get(`/v1/proposals/${byTag.id}`)).json;
  // Tag "code" (compared lowercased): early (weight 3) and other (weight 1); late came after.
  assert.deepEqual(tag.tally.eligible, { agents: 2, weight: 4 });
  assert.equal(tag.outcome, "no"); // 3 of 4 ≥ ⌈2 × 4 / 3⌉ = 3
});

Deno.test("proposal routes refuse bad queries and ids with 4xx problem+json", async () => {
  const { get, app } = region();
  const id = "A".repeat(43);
  const cases = [
    "/v1/proposals/not-an-id",
    `/v1/proposals/${"A".repeat(42)}B`,
    `/v1/proposals/${id}?votes_limit=-1`,
    `/v1/proposals/${id}?votes_limit=1001`,
    `/v1/proposals/${id}?votes_after=x`,
    `/v1/proposals/${id}?what=1`,
    `/v1/proposals/${id}?votes_limit=1&votes_limit=2`,
    "/v1/proposals?state=maybe",
    "/v1/proposals?limit=0",
    "/v1/proposals?cursor=nope",
  ];
  for (const path of cases) {
    const { status, json } = await get(path);
    assert.equal(status, 400, path);
    assert.match(json.type, /^urn:mesh:problem:/);
  }
  assert.equal((await get(`/v1/proposals/${id}`)).status, 404);
  const post = await app.request("/v1/proposals", { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  await post.body?.cancel();
});

Deno.test("fuzzed proposal queries: never a 500, nothing written", async () => {
  const { app, store } = region();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(fc.string(), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/)),
      fc.dictionary(
        fc.constantFrom("votes_limit", "votes_after", "state", "limit", "cursor", "x"),
        fc.string(),
      ),
      async (id, query) => {
        const qs = new URLSearchParams(query).toString();
        for (
          const path of [`/v1/proposals/${encodeURIComponent(id)}?${qs}`, `/v1/proposals?${qs}`]
        ) {
          const response = await app.request(path);
          await response.body?.cancel();
          assert.ok(response.status < 500, `${path} → ${response.status}`);
        }
      },
    ),
    { numRuns: 200 },
  );
  assert.equal(await store.logHead(), 0);
});
