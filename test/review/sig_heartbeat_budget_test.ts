/**
 * Review of POST /v1/agents/{id}/heartbeat: what one client can make the region write.
 *
 * Defect (ignored test): keys cost nothing and the heartbeat's only budget is per agent, so one
 * client address signing with fresh keys is limited by nothing: every heartbeat is 204 and costs
 * the store a token-bucket write, a nonce write and, for good, a liveness record
 * `["registry", "seen", <agent>]` — for agents that have no card, whose liveness no answer ever
 * shows (§20.6). Pushes from the same address are held to MESH_ADDRESS_PUSH_BURST.
 *
 * Defect (ignored test): "a replay gets its token back, so replaying an agent's request cannot
 * spend its budget" (§20.6) holds only one request at a time. The token is drawn before the nonce
 * is claimed and given back after, so concurrent replays of one captured heartbeat hold the whole
 * burst while the store answers: the agent's own fresh heartbeat gets 429, and the replays
 * themselves get 429 instead of 401 replayed.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { IndexKey, RegionStore } from "../../src/store/region_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";

const NOW_MS = T0_MS;
const ADDRESS_BURST = 5;
const FRESH_KEYS = 100;

/** A store that counts the calls of its writing methods. */
function counted(store: RegionStore) {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[String(name)] = (calls[String(name)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy as RegionStore, calls };
}

function region() {
  const { store, calls } = counted(new MemoryStore());
  const now = () => NOW_MS;
  const registry = new Registry({ region: "eu-1", store, now });
  const app = meshRegionApp({
    region: "eu-1",
    store,
    now,
    registry,
    // Every request through app.request() comes from the one address "unknown".
    rateLimits: {
      addressPushRatePerS: 0.001,
      addressPushBurst: ADDRESS_BURST,
      authorDeltaRatePerS: 100,
      authorDeltaBurst: 100,
    },
  });
  return { store, calls, registry, app };
}

async function heartbeatFromFreshKey(app: Hono): Promise<number> {
  const key = AgentKey.generate();
  const url = `http://eu-1.mesh.example/v1/agents/${key.id}/heartbeat`;
  const signed = await signRequest(key, new Request(url, { method: "POST" }), { nowMs: NOW_MS });
  const response = await app.request(signed);
  await response.body?.cancel();
  return response.status;
}

async function seenRecords(store: RegionStore): Promise<number> {
  let count = 0;
  let after: IndexKey | undefined;
  for (;;) {
    const page = await store.listIndex(["registry", "seen"], { after, limit: 1_000 });
    count += page.entries.length;
    if (!page.more || page.entries.length === 0) return count;
    after = page.entries.at(-1)!.key;
  }
}

// Was a defect (fixed; this guards it): heartbeats have no per-address (or per-region) budget and are accepted for agents with
// no card, so one client with fresh keys makes the region write without bound: a bucket and a
// nonce per request and a liveness record kept for ever. Fix: charge the client address
// (the push route's `addressBucket`, or a heartbeat one) before the per-agent bucket, and/or
// accept (or at least persist liveness for) only agents with a card in this region's registry.
Deno.test({
  name: "sig: one address's heartbeats with fresh keys are bounded, or write no liveness",
  async fn() {
    const { app, store, registry } = region();
    let accepted = 0;
    for (let i = 0; i < FRESH_KEYS; i++) {
      if (await heartbeatFromFreshKey(app) === 204) accepted++;
    }
    await registry.liveness.flush(NOW_MS);
    const seen = await seenRecords(store);
    assert.ok(
      accepted <= ADDRESS_BURST || seen === 0,
      `${accepted} heartbeats from one address accepted, ${seen} liveness records persisted`,
    );
  },
});

// Was a defect (fixed; this guards it): concurrent replays drain the agent's heartbeat budget (token drawn before the nonce is
// claimed, refunded after). Fix: claim the nonce before drawing the token (a key over its budget
// then costs one nonce write — what every replay already costs), or draw and claim in one store
// call; at the least, read the nonce before charging.
Deno.test({
  name: "sig: concurrent replays of a captured heartbeat cannot make the agent's own 429",
  async fn() {
    // A store ~5 ms away, like a remote one.
    const inner = new MemoryStore();
    const store = new Proxy(inner, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (typeof value !== "function") return value;
        return async (...args: unknown[]) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return value.apply(target, args);
        };
      },
    }) as RegionStore;
    const now = () => NOW_MS;
    const registry = new Registry({ region: "eu-1", store, now });
    const app = meshRegionApp({ region: "eu-1", store, now, registry });
    const key = AgentKey.generate();
    const url = `http://eu-1.mesh.example/v1/agents/${key.id}/heartbeat`;
    const captured = await signRequest(key, new Request(url, { method: "POST" }), {
      nowMs: NOW_MS,
    });
    assert.equal((await app.request(captured.clone())).status, 204, "the agent's heartbeat");
    // The attacker fires 50 copies of it at once; the agent sends its next heartbeat meanwhile.
    const replays = Array.from({ length: 50 }, () => app.request(captured.clone()));
    await new Promise((resolve) => setTimeout(resolve, 7));
    const own = await signRequest(key, new Request(url, { method: "POST" }), { nowMs: NOW_MS });
    const ownStatus = (await app.request(own)).status;
    const replayStatuses = (await Promise.all(replays)).map((r) => r.status);
    assert.equal(ownStatus, 204, "the agent's own heartbeat was refused");
    assert.ok(replayStatuses.every((s) => s === 401), `replays: ${replayStatuses}`);
  },
});

Deno.test("sig heartbeat budget: pushes from one address are held to the burst (the contrast)", async () => {
  const { app } = region();
  const statuses: number[] = [];
  for (let i = 0; i < 3 * ADDRESS_BURST; i++) {
    const agent = testAgent();
    const response = await app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deltas: [agent.sign("c", [{ op: "set", key: "k", value: i }])] }),
    });
    await response.body?.cancel();
    statuses.push(response.status);
  }
  assert.equal(statuses.filter((s) => s === 429).length, 2 * ADDRESS_BURST);
});

Deno.test("sig heartbeat budget: today's cost of fresh-key heartbeats from one address (measured)", async () => {
  const { app, store, calls, registry } = region();
  const before = { ...calls };
  let accepted = 0;
  for (let i = 0; i < FRESH_KEYS; i++) {
    if (await heartbeatFromFreshKey(app) === 204) accepted++;
  }
  await registry.liveness.flush(NOW_MS);
  const delta = (name: string) => (calls[name] ?? 0) - (before[name] ?? 0);
  const seen = await seenRecords(store);
  console.log(
    `${accepted}/${FRESH_KEYS} accepted; store calls: takeTokensMany ${delta("takeTokensMany")},` +
      ` claimNonce ${delta("claimNonce")}, writeIndex ${delta("writeIndex")};` +
      ` liveness records kept: ${seen}`,
  );
  // Pinned: fresh keys are still accepted (their nonces and buckets expire), but since the
  // review a key without a card leaves no liveness record.
  assert.equal(accepted, FRESH_KEYS);
  assert.equal(seen, 0);
  assert.equal(delta("takeTokensMany"), FRESH_KEYS);
  assert.equal(delta("claimNonce"), FRESH_KEYS);
});
