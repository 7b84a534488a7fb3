/**
 * Signed heartbeats against a real region process: the SDK's `heartbeat()` moves `lastSeen` in
 * `GET /v1/agents/{id}`, the CLI's `heartbeat` does too, and over real HTTP an unsigned request,
 * a replay and another agent's signature are refused with problem+json.
 */
import assert from "node:assert/strict";
import { Agent } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { MeshClient, MeshHttpError } from "../../src/client/mesh_client.ts";
import { signRequest } from "../../src/client/request_signer.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { runDeno, startRegionProcess } from "../support/region_process.ts";
import { card } from "../registry/_cards.ts";

/** How far in the past the agent's card is signed, in ms: so a heartbeat visibly moves lastSeen. */
const CARD_AGE_MS = 300_000;

Deno.test("a signed heartbeat from the SDK and the CLI moves lastSeen on a real region; forgeries are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mesh-heartbeat-process-" });
  const region = await startRegionProcess({ MESH_DATA: `${dir}/region`, MESH_REGION: "eu-1" });
  try {
    const client = new MeshClient(region.url);
    const key = AgentKey.generate();
    await key.save(`${dir}/agent.key.json`);
    const agent = new Agent(key, new HybridClock(() => Date.now() - CARD_AGE_MS));
    await agent.announce(client, card("Heartbeating"));
    const before = await fetch(`${region.url}/v1/agents/${key.id}`).then((r) => r.json());
    assert.ok(before.meshRegistry.lastSeen <= Date.now() - CARD_AGE_MS + 1_000);

    const sentAt = Date.now();
    await client.heartbeat(key);
    const after = await fetch(`${region.url}/v1/agents/${key.id}`).then((r) => r.json());
    assert.equal(after.meshRegistry.lastSeen, Math.floor(sentAt / 1000) * 1000);
    assert.equal(after.meshRegistry.region, "eu-1");
    assert.equal(after.meshRegistry.stale, false);
    assert.equal((await client.card(key.id))?.card.name, "Heartbeating", "verified offline");

    await new Promise((r) => setTimeout(r, 1_100)); // the next whole second
    const cli = await runDeno("src/client/cli.ts", ["heartbeat"], {
      MESH_URL: region.url,
      MESH_AGENT_KEY: `${dir}/agent.key.json`,
    });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`heartbeat: ${key.id} is alive`));
    const later = await fetch(`${region.url}/v1/agents/${key.id}`).then((r) => r.json());
    assert.ok(later.meshRegistry.lastSeen > after.meshRegistry.lastSeen);

    const url = `${region.url}/v1/agents/${key.id}/heartbeat`;
    const unsigned = await fetch(url, { method: "POST" });
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.headers.get("content-type"), "application/problem+json");
    assert.match(unsigned.headers.get("www-authenticate")!, /error="missing"/);
    await unsigned.body?.cancel();

    const signed = await signRequest(key, new Request(url, { method: "POST" }));
    assert.equal((await fetch(signed.clone())).status, 204);
    const replay = await fetch(signed);
    assert.equal(replay.status, 401);
    assert.match((await replay.json()).detail, /\(replayed\)$/);

    const stranger = AgentKey.generate();
    const foreign = await fetch(await signRequest(stranger, new Request(url, { method: "POST" })));
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();
    await assert.rejects(
      () => new MeshClient(region.url).heartbeat(key, { nowMs: Date.now() - 3_600_000 }),
      (error) => error instanceof MeshHttpError && error.status === 401,
    );
  } finally {
    await region.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
