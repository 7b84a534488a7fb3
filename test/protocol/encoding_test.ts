import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeBase64Url, encodeBase64Url } from "../../src/protocol/base64url.ts";
import { canonicalJson } from "../../src/protocol/canonical_json.ts";
import { hasDuplicateKeys } from "../../src/protocol/duplicate_keys.ts";
import { utf8ByteLength, utf8Encode } from "../../src/protocol/utf8.ts";
import { IdAccumulator } from "../../src/protocol/fingerprint.ts";

Deno.test("encodeBase64Url() and decodeBase64Url() round-trip and match the platform's base64", () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    const text = encodeBase64Url(bytes);
    const reference = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
      .replace(/=+$/, "");
    assert.equal(text, reference);
    assert.deepEqual(decodeBase64Url(text), bytes);
  }));
});

Deno.test("decodeBase64Url() accepts exactly one encoding per byte string", () => {
  for (const bad of ["A", "AB=", "AB==", "A+B/", "AB C", "AR", "AAB", "ü000"]) {
    assert.equal(decodeBase64Url(bad), null, bad);
  }
  assert.deepEqual(decodeBase64Url("AQ"), new Uint8Array([1]));
  assert.deepEqual(decodeBase64Url(""), new Uint8Array());
});

Deno.test("hasDuplicateKeys() finds a repeated member name at any depth, decoded", () => {
  assert.equal(hasDuplicateKeys('{"a":1,"a":2}'), true);
  assert.equal(hasDuplicateKeys('{"a":1,"\\u0061":2}'), true);
  assert.equal(hasDuplicateKeys('[{"x":{"b":[1,{"c":1,"c":1}]}}]'), true);
  assert.equal(hasDuplicateKeys('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), false);
  assert.equal(hasDuplicateKeys('{"a\\"":1,"a":"\\"a\\":"}'), false);
  assert.equal(hasDuplicateKeys('["a","a",{"a":"a"}]'), false);
});

Deno.test("hasDuplicateKeys() is false for any JSON.stringify output and true after repeating a member", () => {
  fc.assert(fc.property(fc.jsonValue(), (value) => {
    const text = JSON.stringify(value);
    assert.equal(hasDuplicateKeys(text), false);
    const withMember = JSON.stringify({ k: value, z: 1 });
    assert.equal(hasDuplicateKeys(withMember.replace('"z":1', '"z":1,"k":0')), true);
  }));
});

Deno.test("canonicalJson() sorts keys by string order at every depth, numeric-looking keys too", () => {
  assert.equal(
    canonicalJson({ b: 1, a: [{ d: 1, c: 2 }], "10": 0, "9": 0 }),
    '{"10":0,"9":0,"a":[{"c":2,"d":1}],"b":1}',
  );
  assert.equal(canonicalJson(2n ** 70n), "1180591620717411303424");
  assert.equal(canonicalJson({ s: "\u2028\ud800" }), '{"s":"\u2028\\ud800"}');
});

Deno.test("utf8ByteLength() equals the encoded length for well-formed strings", () => {
  fc.assert(fc.property(fc.string({ unit: "grapheme" }), (text) => {
    assert.equal(utf8ByteLength(text), utf8Encode(text).length);
  }));
});

Deno.test("IdAccumulator fingerprints are order-free and combine by addAll", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 30 }),
      fc.nat(30),
      (ids, cut) => {
        const forward = new IdAccumulator(), backward = new IdAccumulator();
        ids.forEach((id) => forward.add(id));
        [...ids].reverse().forEach((id) => backward.add(id));
        assert.equal(forward.fingerprint(), backward.fingerprint());
        const left = new IdAccumulator(), right = new IdAccumulator();
        ids.slice(0, cut).forEach((id) => left.add(id));
        ids.slice(cut).forEach((id) => right.add(id));
        left.addAll(right);
        assert.equal(left.fingerprint(), forward.fingerprint());
        assert.equal(left.count, ids.length);
      },
    ),
  );
  const a = new IdAccumulator(), b = new IdAccumulator();
  a.add(new Uint8Array(32).fill(1));
  b.add(new Uint8Array(32).fill(2));
  assert.notEqual(a.fingerprint(), b.fingerprint());
});
