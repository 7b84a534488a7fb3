/**
 * `readBodyBytes`: a body is never taken past its limit, whether it declares its length (read
 * whole) or not (read chunk by chunk and cut off).
 */
import assert from "node:assert/strict";
import { readBodyBytes } from "../../src/region/read_body.ts";
import { Problem } from "../../src/region/problem.ts";

const post = (body: BodyInit, headers: Record<string, string> = {}) =>
  new Request("http://region.test/v1/deltas", { method: "POST", body, headers });

const tooLarge = (error: unknown) => error instanceof Problem && error.slug === "payload-too-large";

Deno.test("readBodyBytes() reads a body within its declared length and limit whole", async () => {
  const bytes = await readBodyBytes(post("x".repeat(100), { "content-length": "100" }), 100);
  assert.equal(bytes.length, 100);
});

Deno.test("readBodyBytes() refuses a declared length over the limit unread", async () => {
  await assert.rejects(readBodyBytes(post("x", { "content-length": "101" }), 100), tooLarge);
});

Deno.test("readBodyBytes() refuses a body over the limit whose header understates it (a request built in process)", async () => {
  await assert.rejects(
    readBodyBytes(post("x".repeat(10_000), { "content-length": "5" }), 100),
    tooLarge,
  );
});

Deno.test("readBodyBytes() cuts off a body without a declared length at the limit", async () => {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(50));
      controller.close();
    },
  });
  await assert.rejects(readBodyBytes(post(stream), 100), tooLarge);
});
