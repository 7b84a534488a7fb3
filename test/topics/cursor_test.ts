/**
 * The topic cursor and subject patterns, pure: a cursor never claims a message delivered that was
 * not (a resume never skips), survives encode/decode exactly within its bounds, stays within
 * CURSOR_CHARS_MAX past them (forgetting the soonest-expiring publishers: repeats, not losses),
 * and refuses text that is not a cursor. Subjects match as NATS users expect.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CURSOR_CHARS_MAX,
  CURSOR_RANGES_PER_KEY_MAX,
  publisherKey,
  TopicCursor,
} from "../../src/topics/cursor.ts";
import { parseSubject, subjectMatches } from "../../src/topics/subject.ts";

const T0 = 1_767_225_600_000;

Deno.test("a cursor never claims an undelivered message, and round-trips exactly", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 60 })), {
        maxLength: 200,
      }),
      (adds) => {
        const cursor = TopicCursor.fresh(T0);
        const keys = [0, 1, 2, 3, 4, 5].map((k) => publisherKey("t", `author-${k}`));
        const added = new Set<string>();
        for (const [k, seq] of adds) {
          cursor.add(keys[k], seq, T0 + 60_000);
          added.add(`${k}:${seq}`);
        }
        const decoded = TopicCursor.decode(cursor.encode(T0))!;
        assert.ok(decoded !== null);
        for (let k = 0; k < 6; k++) {
          for (let seq = 1; seq <= 61; seq++) {
            const claims = decoded.has(keys[k], seq);
            if (claims) assert.ok(added.has(`${k}:${seq}`), `claims ${k}:${seq} never delivered`);
            assert.equal(claims, cursor.has(keys[k], seq), "decode(encode(c)) differs from c");
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("past the bounds a cursor forgets (repeats), stays short, and keeps the latest", () => {
  const cursor = TopicCursor.fresh(T0);
  for (let p = 0; p < 900; p++) {
    for (let seq = 1; seq <= 2 * CURSOR_RANGES_PER_KEY_MAX + 2; seq += 2) {
      cursor.add(publisherKey("t", `a${p}`), seq, T0 + 1_000 * (p + 1));
    }
  }
  const text = cursor.encode(T0);
  assert.ok(text.length <= CURSOR_CHARS_MAX, `${text.length} chars`);
  const decoded = TopicCursor.decode(text)!;
  assert.ok(decoded !== null, "a cursor the region issues is one it accepts");
  assert.ok(decoded.has(publisherKey("t", "a899"), 2 * CURSOR_RANGES_PER_KEY_MAX + 1));
  assert.equal(
    decoded.has(publisherKey("t", "a0"), 3),
    false,
    "the soonest to expire is forgotten",
  );
  assert.equal(decoded.has(publisherKey("t", "a899"), 1), false, "the lowest range is forgotten");
  const expired = TopicCursor.decode(cursor.encode(T0 + 2_000_000))!;
  assert.equal(expired.size, 0, "entries whose messages all expired are left out");
});

Deno.test("text that is not a cursor is refused", () => {
  for (const text of ["", "x", "AAAA", "AQ", "Ag", "A".repeat(CURSOR_CHARS_MAX + 1)]) {
    assert.equal(TopicCursor.decode(text), null, JSON.stringify(text.slice(0, 10)));
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const text = btoa(String.fromCharCode(...bytes)).replace(/=+$/, "").replace(/\+/g, "-")
        .replace(/\//g, "_");
      const decoded = TopicCursor.decode(text); // never throws
      if (decoded !== null) assert.ok(TopicCursor.decode(decoded.encode(0)) !== null);
    }),
    { numRuns: 500 },
  );
});

Deno.test("subjects match as NATS users know them", () => {
  const cases: [string, string, boolean][] = [
    ["jobs.eu", "jobs.eu", true],
    ["jobs.eu", "jobs.eu.gpu", false],
    ["jobs.>", "jobs.eu", true],
    ["jobs.>", "jobs.eu.gpu", true],
    ["jobs.>", "jobs", false],
    ["agents.*.status", "agents.a1.status", true],
    ["agents.*.status", "agents.a1.b.status", false],
    ["agents.*.status", "agents.status", false],
    ["*", "a", true],
    ["*", "a.b", false],
    [">", "a.b.c", true],
    ["*.>", "a", false],
    ["*.>", "a.b", true],
  ];
  for (const [pattern, topic, expected] of cases) {
    const subject = parseSubject(pattern)!;
    assert.equal(subjectMatches(subject, topic), expected, `${pattern} ~ ${topic}`);
  }
  for (const bad of ["", "a..b", ".a", "a.", "a.>.b", "a*", "a b", "x".repeat(58)]) {
    assert.equal(parseSubject(bad), null, bad);
  }
});
