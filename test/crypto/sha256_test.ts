import assert from "node:assert/strict";
import fc from "fast-check";
import { sha256, sha256Portable } from "../../src/crypto/sha256.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("sha256() matches the FIPS 180-2 test vectors", () => {
  assert.equal(
    hex(sha256(new TextEncoder().encode("abc"))),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    hex(sha256(new Uint8Array())),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("sha256() and sha256Portable() agree on arbitrary bytes", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (data) => {
    assert.deepEqual(sha256(data), sha256Portable(data));
  }));
});
