/**
 * Topics and mailboxes across real region processes (each `main.ts` with its own Deno KV, links
 * through chaos proxies): an SSE subscriber on us-1 receives what is published on eu-1 (the time
 * is printed); a subscriber resumes with `Last-Event-ID` on another region and gets the rest, each
 * message once; a forged message is refused; across a partition and its heal, neither a topic
 * message nor a direct message is lost.
 */
import assert from "node:assert/strict";
import { TestMesh } from "../support/mesh_processes.ts";
import { sseEvents } from "../support/sse.ts";
import { startRegionProcess } from "../support/region_process.ts";
import { redisAvailable } from "../support/redis_server.ts";
import { startUpstashEnv } from "../support/upstash_rest_server.ts";
import { testAgent } from "../support/signing.ts";
import { directMessage } from "../mailbox/_mail.ts";
import { signRequest } from "../../src/client/request_signer.ts";
import { topicMessage } from "../topics/_topics.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";

const THREE = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

async function post(url: string, path: string, messages: Envelope[]) {
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).results as { id: string; status: string; reason?: string }[];
}

/** The SSE `message` events (id and data) of `response`, as they come. */
async function* events(response: Response) {
  for await (const { event, id, data } of sseEvents(response)) {
    if (event === "message") yield { id, data: JSON.parse(data).data };
  }
}

async function take(stream: AsyncGenerator<{ id: string; data: unknown }>, n: number) {
  const got = [];
  while (got.length < n) {
    const next = await stream.next();
    if (next.done) break;
    got.push(next.value);
  }
  return got;
}

Deno.test({
  name: "topics and mailboxes across region processes: delivery, resume elsewhere, partition",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: THREE });
    try {
      await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 10_000);
      const [eu1, eu2, us1] = THREE.map((r) => mesh.region(r.id).url);
      const alice = testAgent(Date.now), bob = testAgent(Date.now);

      const subscribed = await fetch(`${us1}/v1/topics/jobs.%3E/events`);
      assert.equal(subscribed.status, 200);
      const stream = events(subscribed);
      const started = performance.now();
      for (let i = 0; i < 5; i++) {
        const [r] = await post(eu1, "/v1/topics/jobs.eu", [
          await topicMessage(alice, "jobs.eu", i),
        ]);
        assert.equal(r.status, "accepted");
      }
      const first = await take(stream, 5);
      console.log(
        `5 messages published on eu-1, all delivered on us-1 after ${
          (performance.now() - started).toFixed(0)
        } ms`,
      );
      assert.deepEqual(first.map((e) => e.data), [0, 1, 2, 3, 4]);
      await stream.return(undefined);

      for (let i = 5; i < 7; i++) {
        await post(eu1, "/v1/topics/jobs.eu", [await topicMessage(alice, "jobs.eu", i)]);
      }
      await mesh.until("eu-2 holds all 7", async () => {
        const page = await (await fetch(`${eu2}/v1/topics/jobs.eu/messages?since=0`)).json();
        return page.messages.length === 7;
      }, 10_000);
      const resumed = await fetch(`${eu2}/v1/topics/jobs.%3E/events`, {
        headers: { "last-event-id": first[2].id },
      });
      const rest = events(resumed);
      assert.deepEqual((await take(rest, 4)).map((e) => e.data).sort(), [3, 4, 5, 6]);
      await rest.return(undefined);

      const forged = await topicMessage(alice, "jobs.eu", "forged");
      const tampered = { ...forged, body: forged.body.replace('"forged"', '"FORGED"') };
      const [refused] = await post(eu1, "/v1/topics/jobs.eu", [tampered]);
      assert.equal(refused.reason, "bad_signature");

      mesh.partition([["eu-1", "eu-2"], ["us-1"]]);
      await post(eu1, "/v1/topics/jobs.eu", [await topicMessage(alice, "jobs.eu", "cut")]);
      const [dm] = await post(eu1, "/v1/messages", [await directMessage(alice, bob.key.id, "x")]);
      assert.equal(dm.status, "accepted");
      mesh.heal();
      await mesh.until("us-1 has the partitioned messages", async () => {
        const page = await (await fetch(`${us1}/v1/topics/jobs.eu/messages?since=0`)).json();
        const request = new Request(`${us1}/v1/agents/${bob.key.id}/inbox`);
        const box = await fetch(await signRequest(bob.key, request, { nowMs: Date.now() }));
        assert.equal(box.status, 200);
        const mail = (await box.json()).messages;
        return page.messages.length === 8 && mail.length === 1 && mail[0].id === dm.id;
      }, 20_000);
    } finally {
      await mesh.stop();
    }
  },
});

Deno.test({
  name:
    "two instances of one region on Upstash over real Redis: a subscriber of one gets what the other stores",
  ignore: !redisAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
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
      const alice = testAgent(Date.now), bob = testAgent(Date.now);
      const stream = events(await fetch(`${two.url}/v1/topics/news/events`));
      const waiting = take(stream, 3);
      await new Promise((r) => setTimeout(r, 100));
      for (let i = 0; i < 3; i++) {
        const [r] = await post(one.url, "/v1/topics/news", [await topicMessage(alice, "news", i)]);
        assert.equal(r.status, "accepted");
      }
      assert.deepEqual((await waiting).map((e) => e.data), [0, 1, 2]);
      await stream.return(undefined);
      const [dm] = await post(one.url, "/v1/messages", [await directMessage(alice, bob.key.id, 1)]);
      const request = new Request(`${two.url}/v1/agents/${bob.key.id}/inbox`);
      const box = await fetch(await signRequest(bob.key, request, { nowMs: Date.now() }));
      assert.deepEqual((await box.json()).messages.map((m: { id: string }) => m.id), [dm.id]);
    } finally {
      await one.stop();
      await two.stop();
      await upstash.stop();
    }
  },
});

Deno.test({
  name:
    "a region with open SSE subscribers stops on SIGTERM (the streams end, the process exits 0)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const region = await startRegionProcess({ MESH_REGION: "stop-1", MESH_DATA: dir });
    try {
      const stream = await fetch(`${region.url}/v1/topics/jobs.%3E/events`);
      const reader = stream.body!.getReader();
      await reader.read(); // `retry:` and `ready`: the subscription is open
      const started = performance.now();
      const code = await region.stop("SIGTERM");
      assert.equal(code, 0);
      assert.ok(performance.now() - started < 5_000, "the shutdown waited for the stream");
      await reader.cancel().catch(() => {});
    } finally {
      await region.stop("SIGKILL").catch(() => 0);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
