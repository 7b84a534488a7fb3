/**
 * Property-based fuzzing of the blob routes, as `test/region/fuzz_test.ts` does the others:
 * arbitrary paths, bodies and headers (`Range`, `If-None-Match`, `If-Range`, `Content-Length`,
 * signature fields) on GET, HEAD and PUT. Every answer is below 500; an unsigned request stores
 * nothing; a signed upload stores exactly its body when it hashes to the name, else nothing;
 * a stored blob's answers are always its bytes, whole or the range asked for.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { MemoryStore } from "../../src/store/memory_store.ts";
import { testAgent } from "../support/signing.ts";
import { blobRegion, leftovers, patternBytes, sha256Hex, signedPut } from "./_blobs.ts";

const STORED = patternBytes(150_000, 9);
const STORED_SHA = sha256Hex(STORED);

async function region() {
  const r = blobRegion();
  const put = await r.app.request(await signedPut(testAgent().key, STORED));
  assert.equal(put.status, 201);
  return r;
}

const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
  fc.constantFrom(
    "bytes=0-0",
    "bytes=-1",
    "bytes=149999-",
    "bytes=0-1,2-3",
    "bytes=99999999999999999-",
    `"${STORED_SHA}"`,
    `W/"${STORED_SHA}"`,
    "*",
    "mesh=:AAAA:",
    'mesh=("@method");created=1;keyid="x";nonce="y";alg="ed25519";tag="mesh-agent"',
  ),
);
const path = fc.oneof(
  fc.constant(`/v1/blobs/${STORED_SHA}`),
  fc.constant(`/v1/blobs/${"0".repeat(64)}`),
  fc.string({ maxLength: 70 }).map((s) => `/v1/blobs/${encodeURIComponent(s)}`),
);
const HEADERS = [
  "range",
  "if-none-match",
  "if-range",
  "content-length",
  "signature",
  "signature-input",
  "content-digest",
  "mesh-blob-scope",
];

Deno.test("fuzz: the blob routes answer arbitrary requests below 500 and store nothing unsigned", async () => {
  const r = await region();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("GET", "HEAD", "PUT", "POST", "DELETE"),
      path,
      fc.uint8Array({ maxLength: 2_000 }),
      fc.dictionary(fc.constantFrom(...HEADERS), headerValue, { maxKeys: 4 }),
      async (method, p, body, headers) => {
        let response: Response;
        try {
          response = await r.app.request(p, {
            method,
            headers,
            body: method === "PUT" || method === "POST" ? body : undefined,
          });
        } catch (error) {
          // A Request the runtime itself refuses to build (a header value it rejects) never
          // reaches the region.
          assert.ok(error instanceof TypeError, String(error));
          return;
        }
        assert.ok(
          response.status < 500,
          `${method} ${p} ${JSON.stringify(headers)}: ${response.status}`,
        );
        if (response.status === 200 && method === "GET" && p.endsWith(STORED_SHA)) {
          assert.deepEqual(new Uint8Array(await response.arrayBuffer()), STORED);
        } else if (response.status === 206 && method === "GET") {
          const [, a, b] = /^bytes (\d+)-(\d+)\/150000$/.exec(
            response.headers.get("content-range")!,
          )!;
          const got = new Uint8Array(await response.arrayBuffer());
          assert.deepEqual(got, STORED.slice(Number(a), Number(b) + 1));
        } else {
          await response.body?.cancel();
        }
      },
    ),
    { numRuns: 400 },
  );
  const listed = await r.store.blobs.listBlobs(null, 10);
  assert.deepEqual(listed.items.map((b) => b.sha256), [STORED_SHA]);
  assert.deepEqual(await leftovers(r.store as MemoryStore), { uploads: 0, chunks: 3 });
  assert.equal((await r.app.request("/v1/health")).status, 200);
});

Deno.test("fuzz: a signed upload stores its body exactly when the body hashes to the name", async () => {
  const r = blobRegion();
  const key = testAgent().key;
  let nowMs = r.nowMs;
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 0, maxLength: 70_000 }),
      fc.boolean(),
      async (bytes, honest) => {
        // What the name is the hash of: a dishonest upload names other bytes (which an earlier
        // run may have stored honestly: then the name holds those, not these).
        const named = honest ? bytes : new Uint8Array([...bytes, 1]);
        const name = sha256Hex(named);
        r.nowMs = nowMs += 1;
        // A name stored already is answered "exists" before the body is read (§25.3 step 5).
        const before = await r.store.blobs.getBlob(name);
        const response = await r.app.request(await signedPut(key, bytes, { sha: name, nowMs }));
        const stored = await r.store.blobs.getBlob(name);
        if (bytes.length === 0) assert.equal(response.status, 400);
        else if (before !== null) assert.equal(response.status, 200);
        else if (!honest) assert.equal(response.status, 422);
        else assert.equal(response.status, 201);
        assert.equal(stored !== null, before !== null || (honest && bytes.length > 0));
        await response.body?.cancel();
        if (stored !== null) {
          const got = await r.app.request(`/v1/blobs/${name}`);
          assert.deepEqual(new Uint8Array(await got.arrayBuffer()), named);
        }
      },
    ),
    { numRuns: 120 },
  );
  assert.equal((await leftovers(r.store as MemoryStore)).uploads, 0);
});
