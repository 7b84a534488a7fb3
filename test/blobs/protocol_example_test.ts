/** The upload example of docs/protocol.md §25.3 is what the SDK signs and what a region answers. */
import assert from "node:assert/strict";
import { signRequest } from "../../src/client/request_signer.ts";
import { AgentKey } from "../../src/crypto/agent_key.ts";
import { blobRegion, fromHex, sha256Hex } from "./_blobs.ts";

const BODY = new TextEncoder().encode("hello, blobs\n");
const SHA = "185567b8a87f3d105198c8181299dc778a52dbd5ef7df5cb924dc89136d88a29";

Deno.test("docs/protocol.md §25.3: the example upload's fields and the region's answer", async () => {
  assert.equal(sha256Hex(BODY), SHA);
  const key = AgentKey.fromSecret("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU");
  const url = `https://eu-1.mesh.example/v1/blobs/${SHA}`;
  const signed = await signRequest(key, new Request(url, { method: "PUT" }), {
    nowMs: 1_767_225_600_000,
    nonce: "AAECAwQFBgcICQoLDA0ODw",
    bodySha256: fromHex(SHA),
  });
  assert.deepEqual(Object.fromEntries(signed.headers), {
    "content-digest": "sha-256=:GFVnuKh/PRBRmMgYEpncd4pS29XvffXLkk3IkTbYiik=:",
    "signature-input":
      'mesh=("@method" "@authority" "@path" "@query" "content-digest");created=1767225600;' +
      'keyid="JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";nonce="AAECAwQFBgcICQoLDA0ODw";' +
      'alg="ed25519";tag="mesh-agent"',
    signature:
      "mesh=:4DNNg9e9Kz+WhP6DHqyiJshVCUngUqKeKWPW6XfG1FZWoqu2Eu0Ir3coW4VfQ5w9gAvrPpID8FrlX6GCRIfVDw==:",
  });
  const region = blobRegion();
  region.nowMs = 1_767_225_600_000;
  const put = await region.app.request(
    new Request(url, { method: "PUT", headers: signed.headers, body: BODY }),
  );
  assert.equal(put.status, 201);
  assert.equal(
    await put.text(),
    `{"sha256":"${SHA}","size":13,"status":"stored"}`,
  );
});
