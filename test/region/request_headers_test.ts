/**
 * Oversized request headers (issue 8, item 7): the region answers 431 problem+json itself, below
 * the size at which `Deno.serve` would close the connection with a bare 400 before any handler.
 */
import assert from "node:assert/strict";
import {
  createRegionApp,
  DENO_SERVE_HEAD_BYTES_MAX,
  REQUEST_HEADER_BYTES_MAX,
} from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import { startRegionProcess } from "../support/region_process.ts";

/** A header `x-big` whose field (`x-big: …` and CRLF) is `bytes` long. */
function bigHeader(bytes: number): Record<string, string> {
  return { "x-big": "a".repeat(bytes - "x-big".length - 4) };
}

async function assertHeaderProblem(response: Response): Promise<void> {
  assert.equal(response.status, 431);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const problem = await response.json();
  assert.equal(problem.type, "urn:mesh:problem:header-too-large");
  assert.equal(problem.status, 431);
  assert.equal(problem.instance, "/v1/health");
}

Deno.test("createRegionApp() answers 431 problem+json when the headers exceed REQUEST_HEADER_BYTES_MAX", async () => {
  const app = createRegionApp({ region: "t", store: new MemoryStore() });
  const over = await app.request("/v1/health", {
    headers: bigHeader(REQUEST_HEADER_BYTES_MAX + 1),
  });
  await assertHeaderProblem(over);
  // Many small fields count as much as one big one.
  const fields: Record<string, string> = {};
  for (let i = 0; i < 400; i++) fields[`x-field-${i}`] = "v".repeat(100);
  await assertHeaderProblem(await app.request("/v1/health", { headers: fields }));
  const at = await app.request("/v1/health", { headers: bigHeader(REQUEST_HEADER_BYTES_MAX / 2) });
  assert.equal(at.status, 200);
});

Deno.test("a region process answers an oversized header with 431 problem+json over real HTTP", async () => {
  const data = await Deno.makeTempDir();
  const region = await startRegionProcess({ MESH_DATA: data, MESH_REGION: "hdr-1" });
  try {
    // Over the region's limit and well under the runtime's: the request reaches the app.
    const bytes = REQUEST_HEADER_BYTES_MAX + 1_024;
    assert.ok(bytes < DENO_SERVE_HEAD_BYTES_MAX - 1_024);
    await assertHeaderProblem(
      await fetch(`${region.url}/v1/health`, { headers: bigHeader(bytes) }),
    );
    const ok = await fetch(`${region.url}/v1/health`, { headers: bigHeader(1_024) });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    await region.stop();
    await Deno.remove(data, { recursive: true });
  }
});
