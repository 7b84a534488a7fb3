/**
 * A real region process (`main.ts`) on the embedded store and on Upstash over a real Redis:
 * agents announce over HTTP, discover each other, read a card and verify its envelope, withdraw;
 * a forged card is refused; the index survives a restart.
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { verifyEd25519 } from "../../src/crypto/mod.ts";
import { parseEnvelope } from "../../src/protocol/envelope.ts";
import { REGISTRY_CHANNEL } from "../../src/protocol/agent_card.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { startRegionProcess } from "../support/region_process.ts";
import { signBody } from "../support/signing.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";
import { announce, card, withdraw } from "./_cards.ts";

async function post(url: string, deltas: unknown[]) {
  const response = await fetch(`${url}/v1/deltas`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ deltas }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).results as { status: string; reason?: string }[];
}

async function get(url: string, path: string) {
  const response = await fetch(`${url}${path}`);
  return { status: response.status, json: await response.json() };
}

/** Announce, discover, read, forge, withdraw against a region at `url`. */
async function exercise(url: string, region: string) {
  const translator = new Agent(AgentKey.generate());
  const vision = new Agent(AgentKey.generate());
  const results = await post(url, [
    announce(translator, card("Translator", { translate: ["language"] })),
    announce(vision, card("Vision", { ocr: ["image"] }, "reads scanned pages")),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["accepted", "accepted"]);
  const bySkill = await get(url, "/v1/agents?skill=translate");
  assert.equal(bySkill.status, 200);
  assert.deepEqual(bySkill.json.agents.map((a: { id: string }) => a.id), [translator.key.id]);
  assert.equal(bySkill.json.agents[0].region, region);
  const byWords = await get(url, "/v1/agents?q=scanned+pages&tag=image");
  assert.deepEqual(byWords.json.agents.map((a: { id: string }) => a.id), [vision.key.id]);
  const one = await get(url, `/v1/agents/${vision.key.id}`);
  assert.equal(one.status, 200);
  assert.equal(one.json.name, "Vision");
  const parsed = parseEnvelope(one.json.meshRegistry.envelope, Date.now());
  assert.ok(parsed.ok && await verifyEd25519(parsed.publicKey, parsed.signature, parsed.message));

  const liar = AgentKey.generate();
  const forged = signBody(
    liar,
    JSON.stringify({
      v: 1,
      author: liar.id,
      seq: 1,
      channel: REGISTRY_CHANNEL,
      ts: Date.now(),
      lc: 0,
      ops: [{ op: "set", key: translator.key.id, value: card("Impostor") }],
    }),
  );
  assert.deepEqual((await post(url, [forged])).map((r) => r.reason), ["bad_card"]);
  assert.equal((await get(url, `/v1/agents/${translator.key.id}`)).json.name, "Translator");

  assert.deepEqual((await post(url, [withdraw(vision)])).map((r) => r.status), ["accepted"]);
  assert.equal((await get(url, `/v1/agents/${vision.key.id}`)).status, 404);
  const all = await get(url, "/v1/agents");
  assert.deepEqual(all.json.agents.map((a: { id: string }) => a.id), [translator.key.id]);
  assert.equal(all.json.cursor, null);
  return translator;
}

Deno.test("main.ts on the embedded store: agents announce, discover, verify and withdraw over HTTP; the index survives a restart", async () => {
  const data = await Deno.makeTempDir({ prefix: "mesh-registry-" });
  try {
    let region = await startRegionProcess({ MESH_DATA: data, MESH_REGION: "reg-1" });
    let translator: Agent;
    try {
      translator = await exercise(region.url, "reg-1");
    } finally {
      assert.equal(await region.stop(), 0);
    }
    region = await startRegionProcess({ MESH_DATA: data, MESH_REGION: "reg-1" });
    try {
      const found = await get(region.url, "/v1/agents?tag=language");
      assert.deepEqual(found.json.agents.map((a: { id: string }) => a.id), [translator.key.id]);
    } finally {
      await region.stop();
    }
  } finally {
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test({
  name: "main.ts on Upstash over real Redis: two instances share one registry index",
  ignore: !redisAvailable,
  async fn() {
    const upstash = await startUpstashEnv();
    const env = {
      MESH_STORE: "upstash",
      MESH_REGION: "reg-u",
      UPSTASH_REDIS_REST_URL: upstash.rest.url,
      UPSTASH_REDIS_REST_TOKEN: upstash.rest.token,
    };
    const one = await startRegionProcess(env);
    const two = await startRegionProcess(env);
    try {
      const translator = await exercise(one.url, "reg-u");
      const other = await get(two.url, "/v1/agents?skill=translate");
      assert.deepEqual(other.json.agents.map((a: { id: string }) => a.id), [translator.key.id]);
      assert.equal((await get(two.url, `/v1/agents/${translator.key.id}`)).json.name, "Translator");
    } finally {
      await one.stop();
      await two.stop();
      await upstash.stop();
    }
  },
});
