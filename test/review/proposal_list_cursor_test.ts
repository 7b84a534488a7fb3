/**
 * Review of `GET /v1/proposals` paging (docs/protocol.md §24.6): the cursor `<deadline>.<id>`
 * was looked up by membership in the filtered list, so when the proposal it names left the
 * state asked for between two pages (closing → decided, open → void…) the next page answered
 * 400 "cursor is not one this list gave" — a client paging through `state=closing` failed as
 * soon as the proposal at its page end was decided. The cursor is a position in the order
 * (deadline descending, then id): the next page starts after it, whatever became of it.
 */
import assert from "node:assert/strict";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { proposalValue, signedProposal, T0_MS } from "../proposals/_proposals.ts";

Deno.test("proposal review: a list cursor still pages on when its proposal changed state", async () => {
  const clock = { now: T0_MS + 500 };
  const app = meshRegionApp({ region: "eu-1", store: new MemoryStore(), now: () => clock.now });
  const voter = AgentKey.generate();
  // A: the later deadline, a short grace (decided first). B: earlier deadline, long grace.
  const a = signedProposal(
    AgentKey.generate(),
    proposalValue({ deadline: T0_MS + 100_000, grace: 1_000, eligible: { agents: [voter.id] } }),
  );
  const b = signedProposal(
    AgentKey.generate(),
    proposalValue({ deadline: T0_MS + 90_000, grace: 30_000, eligible: { agents: [voter.id] } }),
  );
  const pushed = await app.request("/v1/deltas", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas: [a.envelope, b.envelope] }),
  });
  assert.deepEqual(
    (await pushed.json()).results.map((r: { status: string }) => r.status),
    ["accepted", "accepted"],
  );
  const list = async (query: string) => {
    const response = await app.request(`/v1/proposals?${query}`);
    return { status: response.status, json: await response.json() };
  };

  clock.now = T0_MS + 105_000; // both closing
  const first = await list("state=closing&limit=1");
  assert.equal(first.status, 200);
  assert.deepEqual(first.json.proposals.map((p: { id: string }) => p.id), [a.id]);
  assert.notEqual(first.json.cursor, null);

  clock.now = T0_MS + 106_500; // A decided, B still closing
  const next = await list(`state=closing&limit=1&cursor=${encodeURIComponent(first.json.cursor)}`);
  assert.equal(next.status, 200, JSON.stringify(next.json));
  assert.deepEqual(next.json.proposals.map((p: { id: string }) => p.id), [b.id]);
  assert.equal(next.json.cursor, null);

  // A cursor that is no position at all is still refused.
  for (const bad of ["nope", "12.", `x.${a.id}`, `${T0_MS}.short`]) {
    const refused = await list(`cursor=${encodeURIComponent(bad)}`);
    assert.equal(refused.status, 400, bad);
  }
});
