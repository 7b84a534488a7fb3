/** The incremental SHA-256 (blobs hash 16 MiB streams with it) agrees with the one-shot one. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { createSha256, createSha256Portable, sha256 } from "../../src/crypto/sha256.ts";

Deno.test("createSha256() and createSha256Portable() hash any split of the bytes as sha256() does", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5_000 }), fc.array(fc.nat(5_000)), (bytes, cuts) => {
      const points = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])]
        .sort((a, b) => a - b);
      for (const make of [createSha256, createSha256Portable]) {
        const hash = make();
        for (let i = 1; i < points.length; i++) {
          hash.update(bytes.subarray(points[i - 1], points[i]));
        }
        assert.deepEqual(hash.digest(), sha256(bytes));
      }
    }),
    { numRuns: 200 },
  );
});
