/**
 * Blobs across real region processes (each `main.ts` with its own Deno KV file, links through
 * proxies): the CLI uploads a file to one region and downloads it, whole and as a range, from
 * another; a region whose store holds other bytes under the name is refused and the next one
 * asked; an upload cut off mid-body over a real connection leaves nothing readable.
 */
import assert from "node:assert/strict";
import { signRequest } from "../../src/client/request_signer.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { DenoKvStore } from "../../src/store/deno_kv_store.ts";
import { TestMesh } from "../support/mesh_processes.ts";
import { runDeno } from "../support/region_process.ts";
import { fromHex, patternBytes, sha256Hex } from "../blobs/_blobs.ts";
import { writeUpload } from "../store/_blob_cases.ts";

const THREE = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

function cli(args: string[], key: string) {
  return runDeno("src/client/cli.ts", [...args, "--key", key]);
}

/** Sends the head of a signed PUT and half its body over a raw connection, then hangs up. */
async function cutUpload(url: string, key: AgentKey, bytes: Uint8Array): Promise<void> {
  const sha = sha256Hex(bytes);
  const signed = await signRequest(key, new Request(`${url}/v1/blobs/${sha}`, { method: "PUT" }), {
    bodySha256: fromHex(sha),
  });
  const { hostname, port, host } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const head = [
    `PUT /v1/blobs/${sha} HTTP/1.1`,
    `host: ${host}`,
    `content-length: ${bytes.length}`,
  ];
  for (const [name, value] of signed.headers) head.push(`${name}: ${value}`);
  const writer = conn.writable.getWriter();
  await writer.write(new TextEncoder().encode(head.join("\r\n") + "\r\n\r\n"));
  await writer.write(bytes.subarray(0, bytes.length >> 1));
  await new Promise((r) => setTimeout(r, 200));
  conn.close();
}

Deno.test({
  name:
    "blobs across region processes: CLI round trip elsewhere, a lying region refused, a cut upload invisible",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const mesh = await TestMesh.start({ regions: THREE });
    const dir = await Deno.makeTempDir({ prefix: "blob-cli-" });
    try {
      await mesh.untilEvery("leaders elected", (s) => s.leader?.self === true, 10_000);
      const [eu1, eu2, us1] = THREE.map((r) => mesh.region(r.id).url);
      const keyFile = `${dir}/agent.key.json`;
      assert.equal((await cli(["keygen"], keyFile)).code, 0);

      // Upload to us-1 with the CLI; read it on eu-1, whose zone peer eu-2 lies about it.
      const bytes = patternBytes(3 * 1024 * 1024 + 5, 77);
      const sha = sha256Hex(bytes);
      await Deno.writeFile(`${dir}/data.bin`, bytes);
      const liar = await DenoKvStore.open(`${mesh.region("eu-2").env.MESH_DATA}/eu-2.kv`);
      const forged = await writeUpload(liar.blobs, patternBytes(bytes.length, 78), "forged", 1);
      assert.equal(await liar.blobs.commitBlob({ ...forged, sha256: sha }), "committed");
      await liar.close();
      const put = await cli(
        ["put-blob", `${dir}/data.bin`, "--url", us1, "--type", "application/x-test", "--tag", "t"],
        keyFile,
      );
      assert.equal(put.code, 0, put.stderr);
      const answer = JSON.parse(put.stdout);
      assert.deepEqual([answer.sha256, answer.size, answer.status], [sha, bytes.length, "stored"]);
      assert.equal(answer.ref.status, "accepted");

      const out = `${dir}/copy.bin`;
      const started = performance.now();
      await mesh.until("eu-1 serves the blob", async () => {
        const got = await cli(["get-blob", sha, "--url", eu1, "--out", out], keyFile);
        return got.code === 0;
      }, 15_000);
      console.log(
        `blob of 3 MiB readable on eu-1 ${
          (performance.now() - started).toFixed(0)
        } ms after the upload to us-1`,
      );
      assert.deepEqual(await Deno.readFile(out), bytes);
      const part = await cli(["get-blob", sha, "--url", eu1, "--range", "1000-1015"], keyFile);
      assert.equal(part.code, 0, part.stderr);
      // The liar still serves its own bytes from its own store; eu-1 took the true ones.
      const lie = await fetch(`${eu2}/v1/blobs/${sha}`, {
        headers: { "mesh-blob-scope": "local" },
      });
      assert.notDeepEqual(new Uint8Array(await lie.arrayBuffer()), bytes);
      const local = await fetch(`${eu1}/v1/blobs/${sha}`, {
        headers: { range: "bytes=1000-1015" },
      });
      assert.equal(local.status, 206);
      assert.deepEqual(new Uint8Array(await local.arrayBuffer()), bytes.slice(1_000, 1_016));

      // An upload cut off mid-body over a real connection: nothing becomes readable.
      const cut = patternBytes(2 * 1024 * 1024, 79);
      await cutUpload(eu1, AgentKey.generate(), cut);
      const after = await fetch(`${eu1}/v1/blobs/${sha256Hex(cut)}`, {
        headers: { "mesh-blob-scope": "local" },
      });
      assert.equal(after.status, 404);
      await after.body?.cancel();
      const health = await fetch(`${eu1}/v1/health`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    } finally {
      await mesh.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
