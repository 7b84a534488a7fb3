/**
 * Members-only reads (`read: "members"` in the admission file): a channel's view, tail and author
 * heads, and a topic's messages, answer only a request its members sign — 401 unsigned, 403 signed
 * by anyone else; wildcard subscriptions show only the topics the signer may read; listings and
 * the public sync routes leave members-only channels out.
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";
import { signRequest } from "../../src/client/request_signer.ts";
import { parseAdmission } from "../../src/guard/admission.ts";
import { Agent } from "../../src/client/agent.ts";
import { HybridClock } from "../../src/client/hybrid_clock.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { idOf, testAgent } from "../support/signing.ts";
import { publish, topicMessage } from "../topics/_topics.ts";

async function get(app: Hono, path: string, signer?: Agent, nowMs = 0) {
  const request = new Request(`http://localhost${path}`);
  const signed = signer === undefined ? request : await signRequest(signer.key, request, { nowMs });
  const response = await app.request(signed);
  return { status: response.status, body: await response.json() };
}

Deno.test("a members-only channel answers its members' signed reads only", async () => {
  const alice = testAgent(), bob = testAgent();
  const admission = parseAdmission(
    JSON.stringify({
      v: 1,
      channels: [
        { match: "team", policy: "allowlist", authors: [alice.key.id], read: "members" },
        { match: "ops.*", policy: "allowlist", authors: [alice.key.id], read: "members" },
      ],
    }),
    "test",
  );
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }], { admission });
  const app = mesh.region("eu-1").app;
  const now = mesh.nowMs;
  const delta = alice.sign("team", [{ op: "set", key: "plan", value: "secret" }]);
  assert.equal((await mesh.push("eu-1", [delta]))[0].status, "accepted");
  await mesh.push("eu-1", [bob.sign("lobby", [{ op: "set", key: "k", value: 1 }])]);
  for (
    const path of [
      "/v1/channels/team",
      "/v1/channels/team/deltas",
      `/v1/channels/team/authors/${alice.key.id}`,
    ]
  ) {
    assert.equal((await get(app, path)).status, 401, path);
    assert.equal((await get(app, path, bob, now)).status, 403, path);
    assert.equal((await get(app, path, alice, now)).status, 200, path);
  }
  assert.equal((await get(app, "/v1/channels/team", alice, now)).body.map.plan, "secret");
  const listed = (await get(app, "/v1/channels")).body.channels.map((c: { channel: string }) =>
    c.channel
  );
  assert.deepEqual(listed, ["lobby"]);
  const fetched = await app.request("/v1/sync/fetch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ids: [idOf(delta)] }),
  });
  assert.deepEqual((await fetched.json()).deltas, []);
  const sync = await app.request("/v1/sync?channel=team", {
    method: "POST",
    headers: { "content-type": "application/octet-stream" },
    body: new Uint8Array([0]),
  });
  assert.equal(sync.status, 403);
});

Deno.test("members-only topics: named subjects refuse strangers, wildcards hide them", async () => {
  const alice = testAgent(), bob = testAgent();
  const admission = parseAdmission(
    JSON.stringify({
      v: 1,
      channels: [{ match: "ops.*", policy: "allowlist", authors: [alice.key.id], read: "members" }],
    }),
    "test",
  );
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }], { admission });
  const app = mesh.region("eu-1").app;
  const now = mesh.nowMs;
  const clockAlice = new Agent(alice.key, new HybridClock(() => now));
  const clockBob = new Agent(bob.key, new HybridClock(() => now));
  assert.equal(
    (await publish(app, "ops.alerts", [await topicMessage(clockAlice, "ops.alerts", "p")]))[0]
      .status,
    "accepted",
  );
  assert.equal(
    (await publish(app, "news", [await topicMessage(clockBob, "news", "n")]))[0].status,
    "accepted",
  );
  const q = `since=${now - 10_000}`;
  assert.equal((await get(app, `/v1/topics/ops.alerts/messages?${q}`)).status, 401);
  assert.equal((await get(app, `/v1/topics/ops.alerts/messages?${q}`, bob, now)).status, 403);
  const mine = await get(app, `/v1/topics/ops.alerts/messages?${q}`, alice, now);
  assert.deepEqual(mine.body.messages.map((m: { data: unknown }) => m.data), ["p"]);
  const all = await get(app, `/v1/topics/%3E/messages?${q}`);
  assert.deepEqual(all.body.messages.map((m: { data: unknown }) => m.data), ["n"]);
  const allAlice = await get(app, `/v1/topics/%3E/messages?${q}`, alice, now);
  assert.deepEqual(allAlice.body.messages.map((m: { data: unknown }) => m.data).sort(), ["n", "p"]);
});
