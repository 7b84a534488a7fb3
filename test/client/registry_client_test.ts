/**
 * The SDK's registry parts against the region's real handlers (`app.request` as the client's
 * fetch, memory store): `Agent.announce`/`withdraw`, `MeshClient.discover`/`discoverAll`, and
 * `MeshClient.card` with its offline verification, including answers altered on the way.
 */
import assert from "node:assert/strict";
import { Agent, InvalidDeltaError } from "../../src/client/agent.ts";
import { CardVerificationError, verifyCardAnswer } from "../../src/client/agent_card_answer.ts";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { card } from "../registry/_cards.ts";

/** A client whose requests go to a fresh region app; `alter` may rewrite each answer's JSON. */
function region(alter?: (path: string, json: Record<string, unknown>) => unknown) {
  const app = meshRegionApp({ region: "eu-1", store: new MemoryStore() });
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await app.request(String(input), init);
    if (alter === undefined || response.status !== 200) return response;
    const path = new URL(String(input)).pathname;
    const json = alter(path, await response.json());
    return new Response(JSON.stringify(json), { headers: { "content-type": "application/json" } });
  };
  return new MeshClient("http://eu-1.test", { fetch: fetch as typeof globalThis.fetch });
}

Deno.test("Agent.announce() publishes the card that MeshClient.card() returns verified", async () => {
  const client = region();
  const agent = new Agent(AgentKey.generate());
  const translator = card("Translator", { translate: ["language", "French"] });
  assert.equal((await agent.announce(client, translator)).status, "accepted");
  const found = await client.card(agent.key.id);
  assert.ok(found !== null);
  assert.deepEqual(found.card, translator);
  assert.equal(found.id, agent.key.id);
  assert.equal(found.seq, 1);
  assert.equal(found.region, "eu-1");
  assert.equal(JSON.parse(found.envelope.body).channel, "_registry");
});

Deno.test("MeshClient.discover() sends skill, every tag, q, limit and cursor", async () => {
  const client = region();
  const agents = Array.from({ length: 5 }, () => new Agent(AgentKey.generate()));
  for (const [i, agent] of agents.entries()) {
    const skills: Record<string, string[]> = i % 2 === 0
      ? { ocr: ["image", "pdf"] }
      : { translate: ["language"] };
    await agent.announce(client, card(`Agent ${i}`, skills, `scans page ${i}`));
  }
  const ocr = await client.discover({ skill: "ocr", tags: ["IMAGE", "pdf"], q: "scans" });
  assert.deepEqual(
    ocr.agents.map((a) => a.id).sort(),
    [agents[0], agents[2], agents[4]].map((a) => a.key.id).sort(),
  );
  assert.equal(ocr.cursor, null);
  const first = await client.discover({ limit: 2 });
  assert.equal(first.agents.length, 2);
  assert.ok(first.cursor !== null);
  const second = await client.discover({ limit: 2, cursor: first.cursor });
  assert.notDeepEqual(second.agents.map((a) => a.id), first.agents.map((a) => a.id));
  const all = [];
  for await (const agent of client.discoverAll({ limit: 2 })) all.push(agent.id);
  assert.deepEqual(all.sort(), agents.map((a) => a.key.id).sort());
  assert.deepEqual((await client.discover({ q: "page 3" })).agents.map((a) => a.id), [
    agents[3].key.id,
  ]);
});

Deno.test("Agent.withdraw() removes the card: card() is null and discover() leaves it out", async () => {
  const client = region();
  const agent = new Agent(AgentKey.generate());
  await agent.announce(client, card("Gone"));
  assert.equal((await agent.withdraw(client)).status, "accepted");
  assert.equal(await client.card(agent.key.id), null);
  assert.deepEqual((await client.discover({ skill: "translate" })).agents, []);
});

Deno.test("Agent.announce() refuses a bad card before claiming a seq", async () => {
  const client = region();
  const agent = new Agent(AgentKey.generate());
  const bad = {
    ...card("Bad"),
    skills: [{ id: "x", name: "x", description: "x", tags: [] }, {
      id: "x",
      name: "y",
      description: "y",
      tags: [],
    }],
  };
  await assert.rejects(
    agent.announce(client, bad),
    (e) => e instanceof InvalidDeltaError && e.reason === "bad_card" && /distinct/.test(e.message),
  );
  await assert.rejects(
    agent.announce(client, { ...card("Extra"), color: "blue" } as never),
    (e) => e instanceof InvalidDeltaError && e.reason === "bad_card",
  );
  await agent.announce(client, card("Good"));
  assert.equal((await client.card(agent.key.id))?.seq, 1, "the refused cards used no seq");
});

Deno.test("MeshClient.card() refuses a card altered on the way", async () => {
  const agent = new Agent(AgentKey.generate());
  const tampered = region((path, json) =>
    path.startsWith("/v1/agents/") ? { ...json, name: "Evil Translator" } : json
  );
  await agent.announce(tampered, card("Translator"));
  await assert.rejects(
    tampered.card(agent.key.id),
    (e) => e instanceof CardVerificationError && e.problem === "card_mismatch",
  );
});

Deno.test("verifyCardAnswer() refuses a forged signature, another agent's card and junk", async () => {
  const app = meshRegionApp({ region: "eu-1", store: new MemoryStore() });
  const client = new MeshClient("http://eu-1.test", {
    fetch: ((input: RequestInfo | URL, init?: RequestInit) =>
      app.request(String(input), init)) as typeof fetch,
  });
  const [alice, bob] = [new Agent(AgentKey.generate()), new Agent(AgentKey.generate())];
  await alice.announce(client, card("Alice"));
  await bob.announce(client, card("Bob"));
  const answer = await (await app.request(`/v1/agents/${alice.key.id}`)).json();
  const { envelope } = answer.meshRegistry;
  const sig = (envelope.sig.startsWith("A") ? "B" : "A") + envelope.sig.slice(1);
  const forged = {
    ...answer,
    meshRegistry: { ...answer.meshRegistry, envelope: { ...envelope, sig } },
  };
  const problem = async (id: string, value: unknown) => {
    try {
      await verifyCardAnswer(id, value);
      return "verified";
    } catch (error) {
      assert.ok(error instanceof CardVerificationError, String(error));
      return error.problem;
    }
  };
  assert.equal(await problem(alice.key.id, answer), "verified");
  assert.equal(await problem(alice.key.id, forged), "bad_signature");
  assert.equal(await problem(bob.key.id, answer), "wrong_agent", "Alice's card shown as Bob's");
  assert.equal(await problem(alice.key.id, { name: "x" }), "malformed");
  assert.equal(await problem(alice.key.id, null), "malformed");
  const badBody = { ...answer, meshRegistry: { envelope: { body: "{}", sig: "x" } } };
  assert.equal(await problem(alice.key.id, badBody), "bad_envelope");
  const { meshRegistry: _, ...shown } = answer;
  const reordered = Object.fromEntries(Object.entries(shown).reverse());
  assert.equal(
    await problem(alice.key.id, { ...reordered, meshRegistry: answer.meshRegistry }),
    "verified",
    "member order does not matter",
  );
});
