/**
 * `POST /v1/agents/{id}/heartbeat` through `app.request()`: a signed heartbeat raises the agent's
 * `lastSeen`; unsigned, badly signed, stale and replayed requests get 401 problem+json, another
 * agent's signature 403, a replay to another instance sharing the store 401 too; the agent's
 * heartbeat budget answers 429 and a replay costs it nothing; nothing is written on a refusal.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { AGENT_HEARTBEAT_BURST } from "../../src/guard/rate_limiter.ts";
import { CLOCK_SKEW_FUTURE_MS_MAX } from "../../src/protocol/limits.ts";
import { HTTP_SIGNATURE_SKEW_MS_MAX } from "../../src/protocol/signature_base.ts";
import { Registry } from "../../src/registry/registry.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, push } from "./_cards.ts";

/** Five minutes after the cards were signed. */
const NOW_MS = T0_MS + 300_000;

function regionOn(store: RegionStore, now = () => NOW_MS) {
  const registry = new Registry({ region: "eu-1", store, now });
  return { registry, app: meshRegionApp({ region: "eu-1", store, now, registry }) };
}

async function announced(app: Hono) {
  const agent = testAgent();
  await push(app, [announce(agent, card("Beating"))]);
  return agent;
}

function heartbeatOf(key: AgentKey, nowMs = NOW_MS, id = key.id, init: RequestInit = {}) {
  const request = new Request(`http://localhost/v1/agents/${id}/heartbeat`, {
    method: "POST",
    ...init,
  });
  return signRequest(key, request, { nowMs });
}

async function lastSeen(app: Hono, id: string): Promise<number> {
  const response = await app.request(`/v1/agents/${id}`);
  assert.equal(response.status, 200);
  return (await response.json()).meshRegistry.lastSeen;
}

async function assertProblem(response: Response, status: number, label: string) {
  assert.equal(response.status, status, label);
  assert.equal(response.headers.get("content-type"), "application/problem+json", label);
  const body = await response.json();
  assert.equal(body.status, status, label);
  return body as { type: string; detail: string };
}

Deno.test("POST /v1/agents/{id}/heartbeat signed by the agent answers 204 and raises lastSeen to created", async () => {
  const { app } = regionOn(new MemoryStore());
  const agent = await announced(app);
  assert.equal(await lastSeen(app, agent.key.id), T0_MS);
  const response = await app.request(await heartbeatOf(agent.key, NOW_MS + 999));
  assert.equal(response.status, 204);
  assert.equal(await response.text(), "");
  assert.equal(await lastSeen(app, agent.key.id), NOW_MS, "whole seconds of the signer's clock");
  // A signer ahead of the region by less than the skew: its own time, never beyond a delta's.
  const ahead = NOW_MS + HTTP_SIGNATURE_SKEW_MS_MAX;
  assert.equal((await app.request(await heartbeatOf(agent.key, ahead))).status, 204);
  const seen = await lastSeen(app, agent.key.id);
  assert.equal(seen, ahead);
  assert.ok(seen <= NOW_MS + CLOCK_SKEW_FUTURE_MS_MAX);
});

Deno.test("heartbeat refusals: unsigned, bad signature, stale 401 with hints; another agent's 403; nothing noted", async () => {
  const { app, registry } = regionOn(new MemoryStore());
  const agent = await announced(app);
  const other = AgentKey.generate();
  const url = `/v1/agents/${agent.key.id}/heartbeat`;
  const unsigned = await app.request(url, { method: "POST" });
  assert.match(
    unsigned.headers.get("www-authenticate")!,
    /^Signature realm="mesh", error="missing"$/,
  );
  assert.match(unsigned.headers.get("accept-signature")!, /tag="mesh-agent"/);
  const body = await assertProblem(unsigned, 401, "unsigned");
  assert.equal(body.type, "urn:mesh:problem:unauthorized");

  const tampered = await heartbeatOf(agent.key);
  const forged = new Request(tampered.url.replace("heartbeat", "heartbeat?x=1"), tampered);
  await assertProblem(await app.request(forged), 401, "query added");
  const stale = await app.request(
    await heartbeatOf(agent.key, NOW_MS - HTTP_SIGNATURE_SKEW_MS_MAX - 1000),
  );
  assert.match((await assertProblem(stale, 401, "stale")).detail, /\(stale\)$/);

  const foreign = await app.request(await heartbeatOf(other, NOW_MS, agent.key.id));
  const forbidden = await assertProblem(foreign, 403, "foreign");
  assert.equal(forbidden.type, "urn:mesh:problem:forbidden");
  assert.equal(foreign.headers.get("www-authenticate"), null);

  assert.equal(await lastSeen(app, agent.key.id), T0_MS, "no refusal raised lastSeen");
  assert.equal(registry.liveness.noted(other.id), null);
});

Deno.test("heartbeat route: bad id 400, a body 413, other methods 405 with Allow: POST", async () => {
  const { app } = regionOn(new MemoryStore());
  const agent = await announced(app);
  await assertProblem(
    await app.request("/v1/agents/not-a-key/heartbeat", { method: "POST" }),
    400,
    "bad id",
  );
  const withBody = await heartbeatOf(agent.key, NOW_MS, agent.key.id, { body: "{}" });
  await assertProblem(await app.request(withBody), 413, "body");
  for (const method of ["GET", "PUT", "DELETE"]) {
    const response = await app.request(`/v1/agents/${agent.key.id}/heartbeat`, { method });
    await assertProblem(response, 405, method);
    assert.equal(response.headers.get("allow"), "POST");
  }
});

Deno.test("a replayed heartbeat is refused by another instance sharing the store (Deno KV file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-heartbeat-" });
  const stores = [
    await DenoKvStore.open(`${dir}/kv.sqlite`),
    await DenoKvStore.open(`${dir}/kv.sqlite`),
  ];
  try {
    const [one, two] = stores.map((store) => regionOn(store));
    const agent = await announced(one.app);
    const signed = await heartbeatOf(agent.key);
    assert.equal((await one.app.request(signed.clone())).status, 204);
    const replay = await two.app.request(signed.clone());
    assert.match(
      (await assertProblem(replay, 401, "replay")).detail,
      /already used.*\(replayed\)$/,
    );
    assert.equal((await one.app.request(signed.clone())).status, 401);
    assert.equal((await two.app.request(await heartbeatOf(agent.key))).status, 204);
  } finally {
    for (const store of stores) await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("heartbeats are rate-limited per agent (429, Retry-After); replays give their token back", async () => {
  let now = NOW_MS;
  const { app } = regionOn(new MemoryStore(), () => now);
  const agent = await announced(app);
  const first = await heartbeatOf(agent.key);
  assert.equal((await app.request(first.clone())).status, 204);
  for (let i = 0; i < 3 * AGENT_HEARTBEAT_BURST; i++) {
    assert.equal((await app.request(first.clone())).status, 401, "replay");
  }
  for (let i = 1; i < AGENT_HEARTBEAT_BURST; i++) {
    assert.equal((await app.request(await heartbeatOf(agent.key))).status, 204, `beat ${i}`);
  }
  const over = await app.request(await heartbeatOf(agent.key));
  await assertProblem(over, 429, "over budget");
  assert.equal(over.headers.get("retry-after"), "1");
  // Another agent has its own budget; the first one's refills with time.
  const other = await announced(app);
  assert.equal((await app.request(await heartbeatOf(other.key))).status, 204);
  now += 1_000;
  assert.equal((await app.request(await heartbeatOf(agent.key, now))).status, 204);
});

Deno.test("a heartbeat while the store is down answers 503 and notes nothing", async () => {
  const store = new MemoryStore();
  const { app, registry } = regionOn(store);
  const agent = await announced(app);
  store.failing = true;
  await assertProblem(await app.request(await heartbeatOf(agent.key)), 503, "store down");
  store.failing = false;
  assert.notEqual(registry.liveness.noted(agent.key.id)?.ts, NOW_MS);
  assert.equal(await lastSeen(app, agent.key.id), T0_MS);
});
