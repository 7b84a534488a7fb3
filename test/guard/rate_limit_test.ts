import assert from "node:assert/strict";
import { takeTokens } from "../../src/store/region_store.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import type { Envelope } from "../../src/client/mesh_client.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { addressSubject, defaultClientAddress } from "../../src/guard/client_address.ts";
import { regionConfig } from "../../src/compose/config.ts";
import type { DeltaResult } from "../../src/region/ingest.ts";
import {
  ADDRESS_PUSH_BURST,
  AUTHOR_DELTA_BURST,
  authorBucket,
  type RateLimits,
} from "../../src/guard/rate_limiter.ts";
import { reserveSize } from "../../src/guard/token_reserve.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import * as names from "../../src/telemetry/names.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { bodyOf, idOf, signBody, T0_MS, testAgent } from "../support/signing.ts";
import { collectTelemetry } from "../support/telemetry_registry.ts";

const CLIENT_HEADER = "x-test-client";

/** A standalone region with small limits, its own clock, and the client address from a header. */
function region(limits: Partial<RateLimits>) {
  const store = new MemoryStore();
  const clock = { nowMs: T0_MS };
  const app = createRegionApp({
    region: "t",
    store,
    now: () => clock.nowMs,
    rateLimits: {
      addressPushRatePerS: 1_000,
      addressPushBurst: 1_000,
      authorDeltaRatePerS: 1_000,
      authorDeltaBurst: 1_000,
      ...limits,
    },
    clientAddress: (c) => c.req.header(CLIENT_HEADER) ?? "unknown",
  });
  const push = (deltas: unknown[], client = "192.0.2.1", init: RequestInit = {}) =>
    app.request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json", [CLIENT_HEADER]: client },
      body: JSON.stringify({ deltas }),
      ...init,
    });
  const results = async (response: Response): Promise<DeltaResult[]> => {
    assert.equal(response.status, 200);
    return (await response.json()).results;
  };
  return { app, store, clock, push, results };
}

const set = (i: number) => [{ op: "set" as const, key: `k${i}`, value: i }];

Deno.test("POST /v1/deltas over the address limit answers 429 rate-limited with Retry-After and stores nothing", async () => {
  const { store, push } = region({ addressPushRatePerS: 0.3, addressPushBurst: 2 });
  const agent = testAgent();
  for (let i = 0; i < 2; i++) assert.equal((await push([agent.sign("c", set(i))])).status, 200);
  const refused = agent.sign("c", set(2));
  const response = await push([refused]);
  assert.equal(response.status, 429);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  assert.equal(response.headers.get("retry-after"), "4", "1 token at 0.3/s: 3334 ms, rounded up");
  const problem = await response.json();
  assert.deepEqual(
    {
      type: problem.type,
      title: problem.title,
      status: problem.status,
      instance: problem.instance,
    },
    {
      type: "urn:mesh:problem:rate-limited",
      title: "Too many requests",
      status: 429,
      instance: "/v1/deltas",
    },
  );
  assert.match(problem.detail, /retry after 4 s/);
  assert.equal(await store.getDelta("c", idOf(refused)), null);
  assert.equal(await store.logHead(), 2);
  assert.equal((await store.listArrivals("c", 0, 10)).deltas.length, 2);
});

Deno.test("POST /v1/deltas charges the address before reading the body", async () => {
  const { push } = region({ addressPushRatePerS: 1, addressPushBurst: 1 });
  assert.equal((await push([])).status, 200);
  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull() {
      pulled = true;
      throw new Error("the body must not be read");
    },
  }, { highWaterMark: 0 });
  const response = await push([], "192.0.2.1", { body, headers: { [CLIENT_HEADER]: "192.0.2.1" } });
  assert.equal(response.status, 429, "refused before the media type and the body are looked at");
  await response.body?.cancel();
  assert.equal(pulled, false);
});

Deno.test("POST /v1/deltas answers 503 when the store fails while drawing tokens", async () => {
  const { store, push } = region({ addressPushBurst: 5, authorDeltaBurst: 5 });
  store.failing = true;
  const response = await push([testAgent().sign("c", set(1))]);
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  assert.equal((await response.json()).type, "urn:mesh:problem:store-unavailable");
  store.failing = false;
  assert.equal(await store.logHead(), 0);
});

Deno.test("POST /v1/deltas address tokens refill with the region's clock", async () => {
  const { clock, push, results } = region({ addressPushRatePerS: 2, addressPushBurst: 1 });
  const agent = testAgent();
  assert.equal((await push([agent.sign("c", set(1))])).status, 200);
  const again = agent.sign("c", set(2));
  const refused = await push([again]);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "1", "500 ms rounds up to 1 s");
  await refused.body?.cancel();
  clock.nowMs += 499;
  const early = await push([again]);
  assert.equal(early.status, 429);
  await early.body?.cancel();
  clock.nowMs += 1;
  assert.deepEqual((await results(await push([again]))).map((r) => r.status), ["accepted"]);
});

Deno.test("POST /v1/deltas keeps separate address buckets per client, and IPv6 clients per /64", async () => {
  const { push } = region({ addressPushRatePerS: 1, addressPushBurst: 1 });
  const status = async (client: string) => {
    const response = await push([], client);
    await response.body?.cancel();
    return response.status;
  };
  assert.equal(await status("198.51.100.1"), 200);
  assert.equal(await status("198.51.100.1"), 429);
  assert.equal(await status("198.51.100.2"), 200);
  assert.equal(await status("2001:db8:0:1::1"), 200);
  assert.equal(await status("2001:db8:0:1:ffff::2"), 429, "same /64");
  assert.equal(await status("2001:db8:0:2::1"), 200);
  assert.equal(await status("::ffff:198.51.100.2"), 429, "IPv4-mapped is the IPv4 address");
});

Deno.test("POST /v1/deltas rejects an author's deltas over its limit as rate_limited and stores the others", async () => {
  const { store, clock, push, results } = region({
    authorDeltaRatePerS: 1,
    authorDeltaBurst: 3,
  });
  const flooder = testAgent(() => clock.nowMs), other = testAgent(() => clock.nowMs);
  const batch: Envelope[] = [];
  for (let i = 1; i <= 6; i++) {
    batch.push(flooder.sign("c", set(i)));
    if (i % 3 === 0) batch.push(other.sign("c", set(i)));
  }
  const out = await results(await push(batch));
  assert.deepEqual(out.map((r) => r.status === "rejected" ? r.reason : r.status), [
    "accepted",
    "accepted",
    "accepted",
    "accepted", // other
    "rate_limited",
    "rate_limited",
    "rate_limited",
    "accepted", // other
  ]);
  const limited = out[4] as Extract<DeltaResult, { status: "rejected" }>;
  assert.equal(limited.id, idOf(batch[4]));
  assert.match(limited.detail, /over its rate limit.*retry after 1 s/);
  for (const i of [4, 5, 6]) assert.equal(await store.getDelta("c", idOf(batch[i])), null);
  assert.deepEqual(await store.getHead("c", flooder.key.id), { contiguous: 3, max: 3, count: 3 });
  assert.deepEqual(await store.getHead("c", other.key.id), { contiguous: 2, max: 2, count: 2 });

  // The same envelopes, resent after the bucket refilled (1 token/s), are stored in turn.
  clock.nowMs += 2_000;
  assert.deepEqual(
    (await results(await push([batch[4], batch[5], batch[6]]))).map((r) => r.status),
    [
      "accepted",
      "accepted",
      "rejected",
    ],
  );
  clock.nowMs += 1_000;
  assert.deepEqual((await results(await push([batch[6]]))).map((r) => r.status), ["accepted"]);
  assert.deepEqual(await store.getHead("c", flooder.key.id), { contiguous: 6, max: 6, count: 6 });
});

Deno.test("POST /v1/deltas charges authors only for deltas with a valid signature", async () => {
  const { push, results } = region({ authorDeltaRatePerS: 0.001, authorDeltaBurst: 2 });
  const victim = testAgent();
  const forger = AgentKey.generate();
  // Bodies naming the victim as author, signed by another key: a forger cannot spend the
  // victim's tokens, nor lower the victim's reputation.
  const forged = Array.from(
    { length: 40 },
    (_, i) => signBody(forger, JSON.stringify(bodyOf(victim.key, { seq: 100 + i }))),
  );
  const out = await results(await push(forged, "203.0.113.66"));
  assert.ok(out.every((r) => r.status === "rejected" && r.reason === "bad_signature"));
  const own = [victim.sign("c", set(1)), victim.sign("c", set(2)), victim.sign("c", set(3))];
  assert.deepEqual((await results(await push(own))).map((r) => r.status), [
    "accepted",
    "accepted",
    "rejected",
  ], "the victim still has its whole burst of 2");
});

Deno.test("POST /v1/deltas gives back what replayed duplicates drew from their author", async () => {
  const { push, results } = region({ authorDeltaRatePerS: 0.001, authorDeltaBurst: 3 });
  const victim = testAgent();
  const own = [victim.sign("c", set(1)), victim.sign("c", set(2))];
  assert.deepEqual((await results(await push(own))).map((r) => r.status), [
    "accepted",
    "accepted",
  ]);
  for (let i = 0; i < 5; i++) {
    const replay = await results(await push([own[0]], "203.0.113.66"));
    assert.deepEqual(replay.map((r) => r.status), ["duplicate"], "drawn, then given back");
  }
  assert.deepEqual(
    (await results(await push([victim.sign("c", set(3))]))).map((r) => r.status),
    ["accepted"],
    "the victim's last token is still there",
  );
});

Deno.test("a client that sends many bad signatures is throttled harder than a good one", async () => {
  const { push } = region({ addressPushRatePerS: 0.001, addressPushBurst: 20 });
  const good = testAgent(), bad = AgentKey.generate(), named = testAgent();
  const badClient = "203.0.113.66", goodClient = "198.51.100.7";
  const forged = Array.from(
    { length: 30 },
    (_, i) => signBody(bad, JSON.stringify(bodyOf(named.key, { seq: i + 1 }))),
  );
  const first = await push(forged, badClient);
  assert.equal(first.status, 200);
  await first.body?.cancel();
  const pushes = async (client: string, agent = good) => {
    let ok = 0;
    for (let i = 0; i < 10; i++) {
      const response = await push([agent.sign(client, set(i))], client);
      await response.body?.cancel();
      if (response.status === 200) ok++;
      else assert.equal(response.status, 429);
    }
    return ok;
  };
  // Both clients have 19 request tokens left; the bad one's budget is now a tenth: burst 2.
  assert.equal(await pushes(goodClient), 10);
  assert.equal(await pushes(badClient, named), 2);
});

Deno.test("an author whose key signs invalid deltas gets a smaller author budget than a good author", async () => {
  const { push, results } = region({ authorDeltaRatePerS: 0.001, authorDeltaBurst: 10 });
  const good = testAgent(), sloppy = testAgent();
  // Bodies the sloppy author's own key signed, with a field v1 does not have: its fault.
  const invalid = Array.from(
    { length: 25 },
    (_, i) => signBody(sloppy.key, JSON.stringify(bodyOf(sloppy.key, { seq: i + 1, extra: true }))),
  );
  const out = await results(await push(invalid));
  assert.ok(out.every((r) => r.status === "rejected" && r.reason === "bad_schema"));
  const batch = [
    ...Array.from({ length: 5 }, (_, i) => good.sign("c", set(i))),
    ...Array.from({ length: 5 }, (_, i) => sloppy.sign("c", set(i))),
  ];
  const statuses = (await results(await push(batch))).map((r) =>
    r.status === "rejected" ? r.reason : r.status
  );
  assert.deepEqual(statuses.slice(0, 5), Array(5).fill("accepted"));
  assert.deepEqual(statuses.slice(5), ["accepted", ...Array(4).fill("rate_limited")]);
});

Deno.test("instances serve most draws from a reserve, and two instances never exceed the shared bucket", async () => {
  const shared = new MemoryStore();
  let storeCalls = 0;
  const store = new Proxy(shared, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "takeTokensMany" || prop === "takeTokens") {
        return (...args: unknown[]) => {
          storeCalls++;
          return value.apply(target, args);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const limits = { addressPushRatePerS: 0.001, addressPushBurst: 100 };
  const apps = [0, 1].map(() =>
    createRegionApp({ region: "t", store, now: () => T0_MS, rateLimits: limits })
  );
  let ok = 0;
  for (let i = 0; i < 150; i++) {
    const response = await apps[i % 2].request("/v1/deltas", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"deltas":[]}',
    });
    await response.body?.cancel();
    if (response.status === 200) ok++;
    else assert.equal(response.status, 429);
  }
  assert.ok(ok <= 100, `${ok} requests passed a bucket of 100`);
  assert.ok(ok >= 100 - 2 * reserveSize(100), `${ok}: at most two reserves were left unused`);
  assert.ok(storeCalls < 100, `${storeCalls} store calls for 150 requests`);
});

Deno.test("peer region messages are not charged to agent buckets", async () => {
  const mesh = new InProcessMesh([{ id: "eu-1", zone: "eu" }, { id: "eu-2", zone: "eu" }]);
  for (let i = 0; i < 4; i++) await mesh.tick();
  const agent = testAgent(() => mesh.nowMs);
  await mesh.push("eu-1", Array.from({ length: 10 }, (_, i) => agent.sign("room", set(i))));
  for (let i = 0; i < 20; i++) await mesh.tick();
  assert.equal((await mesh.region("eu-2").store.listArrivals("room", 0, 100)).deltas.length, 10);
  // Draw one more token at a negligible rate: what is left shows what was drawn before.
  const left = async (id: string) =>
    (await takeTokens(
      mesh.region(id).store,
      authorBucket(agent.key.id),
      1,
      1e-9,
      AUTHOR_DELTA_BURST,
      mesh.nowMs,
    )).remaining;
  // eu-1 drew 10 tokens and a reserve (token_reserve.ts).
  assert.equal(
    await left("eu-1"),
    AUTHOR_DELTA_BURST - 10 - reserveSize(AUTHOR_DELTA_BURST) - 1,
    "charged where it was pushed",
  );
  assert.equal(await left("eu-2"), AUTHOR_DELTA_BURST - 1, "the relayed copies were not charged");
});

Deno.test("a 429 and a rate-limited delta are counted in mesh.ratelimit.refusals by scope", async () => {
  const emitted = await collectTelemetry(async () => {
    const { push } = region({ addressPushBurst: 1, addressPushRatePerS: 1, authorDeltaBurst: 1 });
    const agent = testAgent();
    await (await push([agent.sign("c", set(1)), agent.sign("c", set(2))])).body?.cancel();
    await (await push([])).body?.cancel();
  });
  assert.deepEqual(emitted.undeclared, []);
  assert.ok(emitted.metrics.has(names.METRIC_RATE_LIMIT_REFUSALS));
  const spans = emitted.spanRecords.filter((s) => s.name === names.SPAN_PUSH);
  assert.equal(spans[0].attributes[names.ATTR_PUSH_RATE_LIMITED], 1);
  assert.equal(spans[1].attributes[names.ATTR_RATE_LIMIT_SCOPE], "address");
});

Deno.test("defaultClientAddress() trusts X-Forwarded-For only when told, else the connection, else unknown", async () => {
  const seen: string[] = [];
  for (const trustProxy of [false, true]) {
    const app = createRegionApp({
      region: "t",
      store: new MemoryStore(),
      clientAddress: (c) => {
        const address = defaultClientAddress(trustProxy)(c);
        seen.push(address);
        return address;
      },
    });
    const headers = {
      "content-type": "application/json",
      "x-forwarded-for": " 203.0.113.9 , 10.0.0.1",
    };
    const init = { method: "POST", headers, body: '{"deltas":[]}' };
    await (await app.request("/v1/deltas", init)).body?.cancel();
    const info = { remoteAddr: { hostname: "192.0.2.44", port: 5555, transport: "tcp" } };
    await (await app.request("/v1/deltas", init, info)).body?.cancel();
  }
  assert.deepEqual(seen, ["unknown", "192.0.2.44", "203.0.113.9", "203.0.113.9"]);
});

Deno.test("addressSubject() keeps IPv4, maps IPv4-mapped IPv6 back, and cuts IPv6 to its /64", () => {
  assert.equal(addressSubject("198.51.100.7"), "198.51.100.7");
  assert.equal(addressSubject("::FFFF:198.51.100.7"), "198.51.100.7");
  assert.equal(addressSubject("2001:DB8::1"), "2001:db8:0:0::/64");
  assert.equal(addressSubject("[2001:db8:1:2:3:4:5:6]"), "2001:db8:1:2::/64");
  assert.equal(addressSubject("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(addressSubject("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
  assert.equal(addressSubject("::1"), "0:0:0:0::/64");
  assert.equal(addressSubject("not:an::address::"), "not:an::address::");
  assert.equal(addressSubject(""), "unknown");
  assert.equal(addressSubject("x".repeat(500)).length, 100);
});

Deno.test("regionConfig() reads the rate limits and MESH_TRUST_PROXY from the environment", () => {
  const defaults = regionConfig({});
  assert.equal(defaults.MESH_ADDRESS_PUSH_BURST, ADDRESS_PUSH_BURST);
  assert.equal(defaults.MESH_TRUST_PROXY, false);
  const set = regionConfig({
    MESH_ADDRESS_PUSH_RATE_PER_S: "50",
    MESH_ADDRESS_PUSH_BURST: "100",
    MESH_AUTHOR_DELTA_RATE_PER_S: "2.5",
    MESH_AUTHOR_DELTA_BURST: "10",
    MESH_TRUST_PROXY: "true",
  });
  assert.deepEqual(
    [
      set.MESH_ADDRESS_PUSH_RATE_PER_S,
      set.MESH_ADDRESS_PUSH_BURST,
      set.MESH_AUTHOR_DELTA_RATE_PER_S,
      set.MESH_AUTHOR_DELTA_BURST,
      set.MESH_TRUST_PROXY,
    ],
    [50, 100, 2.5, 10, true],
  );
  assert.throws(
    () => regionConfig({ MESH_AUTHOR_DELTA_RATE_PER_S: "0" }),
    /MESH_AUTHOR_DELTA_RATE_PER_S is invalid/,
  );
  assert.throws(() => regionConfig({ MESH_ADDRESS_PUSH_BURST: "0.5" }), /MESH_ADDRESS_PUSH_BURST/);
  assert.throws(() => regionConfig({ MESH_TRUST_PROXY: "yes" }), /MESH_TRUST_PROXY/);
});
