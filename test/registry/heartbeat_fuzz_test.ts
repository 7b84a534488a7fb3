/**
 * Hostile input on `POST /v1/agents/{id}/heartbeat`, fuzzed like `/v1/deltas`: arbitrary
 * signature fields (random text, random structured fields, and a real signature with one field
 * mutated), bodies, methods and ids. Never a 500; every refusal is problem+json; nothing is
 * written (no liveness noted, the region log unmoved); the region stays healthy.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { signRequest } from "../../src/client/request_signer.ts";
import { meshRegionApp } from "../../src/compose/mesh_region_app.ts";
import { Registry } from "../../src/registry/registry.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { T0_MS, testAgent } from "../support/signing.ts";
import { announce, card, push } from "./_cards.ts";

const NOW_MS = T0_MS + 60_000;
const FIELDS = ["signature-input", "signature", "content-digest"] as const;

async function region() {
  const store = new MemoryStore();
  const registry = new Registry({ region: "eu-1", store, now: () => NOW_MS });
  const app = meshRegionApp({ region: "eu-1", store, now: () => NOW_MS, registry });
  const agent = testAgent();
  await push(app, [announce(agent, card("Fuzzed"))]);
  const url = `http://localhost/v1/agents/${agent.key.id}/heartbeat`;
  const valid = await signRequest(agent.key, new Request(url, { method: "POST" }), {
    nowMs: NOW_MS,
  });
  return { store, registry, app, agent, url, valid };
}

/** Header-safe text: printable ASCII and Latin-1, the bytes a field value may carry. */
const fieldText = fc.array(
  fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })),
  { maxLength: 300 },
).map((codes) => String.fromCharCode(...codes).trim());

/** Structured-looking text built from the pieces a signature field is made of. */
const structured = fc.array(
  fc.constantFrom(
    "mesh=",
    "sig=",
    "(",
    ")",
    '"@method"',
    '"@authority"',
    '"@path"',
    '"@query"',
    '"content-digest"',
    '"@status"',
    ";created=1767225660",
    ";created=-1",
    ";created=1.5",
    ";keyid=",
    '"AAAA"',
    ';nonce="abcdefghijklmnopqrstuv"',
    ';alg="ed25519"',
    ";alg=ed25519",
    ';tag="mesh-agent"',
    ";expires=1",
    ":AAAA:",
    `:${btoa("x".repeat(64))}:`,
    "sha-256=",
    ", ",
    " ",
    "?1",
    '%"x"',
  ),
  { maxLength: 24 },
).map((parts) => parts.join(""));

/** One character of a valid field changed, removed or doubled. */
function mutate(text: string, at: number, char: number, how: number): string {
  const i = at % (text.length + 1);
  const c = String.fromCharCode(0x20 + (char % 0x5f));
  return how === 0
    ? text.slice(0, i) + c + text.slice(i + 1)
    : how === 1
    ? text.slice(0, i) + text.slice(i + 1)
    : text.slice(0, i) + c + text.slice(i);
}

Deno.test("POST /v1/agents/{id}/heartbeat under fuzzed signature fields: no 500, problem+json, nothing written", async () => {
  const { store, registry, app, agent, url, valid } = await region();
  const seen = async () => (await store.listIndex(["registry", "seen"], { limit: 100 })).entries;
  // Sent first, so a mutant that still verifies (say, base64 without its padding) is a replay.
  assert.equal((await app.request(valid.clone())).status, 204);
  await registry.liveness.flush(NOW_MS);
  const logBefore = await store.logHead();
  const seenBefore = await seen();
  assert.equal(seenBefore.length, 1, "the agent's own liveness, from its card and heartbeat");
  const headerSets = fc.oneof(
    fc.record({ field: fc.constantFrom(...FIELDS), value: fc.oneof(fieldText, structured) })
      .map(({ field, value }) => {
        const headers = new Headers(valid.headers);
        headers.set(field, value);
        return headers;
      }),
    fc.record({
      input: fc.oneof(fieldText, structured),
      signature: fc.oneof(fieldText, structured),
    }).map(({ input, signature }) =>
      new Headers({ "signature-input": input, "signature": signature })
    ),
    fc.tuple(
      fc.constantFrom(...FIELDS.slice(0, 2)),
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 0, max: 2 }),
    )
      .map(([field, at, char, how]) => {
        const headers = new Headers(valid.headers);
        headers.set(field, mutate(valid.headers.get(field)!, at, char, how).trim());
        return headers;
      }),
  );
  const bodies = fc.oneof(
    fc.constant(undefined),
    fc.uint8Array({ maxLength: 64 }),
    fc.constant("{}"),
  );
  const ids = fc.oneof(
    fc.constant(agent.key.id),
    fc.constant(testAgent().key.id),
    fc.string({ maxLength: 50 }).map(encodeURIComponent),
  );
  await fc.assert(
    fc.asyncProperty(headerSets, bodies, ids, async (headers, body, id) => {
      const target = url.replace(agent.key.id, id);
      let request: Request;
      try {
        request = new Request(target, { method: "POST", headers, body });
      } catch {
        return; // a request the fetch API itself refuses never reaches the region
      }
      const response = await app.request(request);
      assert.ok(response.status < 500, `${target} answered ${response.status}`);
      assert.notEqual(response.status, 204, "a fuzzed request was accepted");
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      assert.equal((await response.json()).status, response.status);
    }),
    { numRuns: 400 },
  );
  assert.equal(await store.logHead(), logBefore);
  assert.equal(registry.liveness.pending, 0, "no liveness noted");
  await registry.liveness.flush(NOW_MS);
  assert.deepEqual(await seen(), seenBefore, "no liveness written");
  assert.equal((await app.request("/v1/health")).status, 200);
  const fresh = await signRequest(agent.key, new Request(url, { method: "POST" }), {
    nowMs: NOW_MS + 1_000,
  });
  assert.equal((await app.request(fresh)).status, 204, "a real heartbeat still works");
});
