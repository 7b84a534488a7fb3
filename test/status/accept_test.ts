import assert from "node:assert/strict";
import { accepts, refuseUnknownQuery, requireAccept } from "../../src/status/accept.ts";
import { Problem } from "../../src/region/problem.ts";

Deno.test("accepts() allows a type when Accept is absent, empty, a wildcard or names it", () => {
  const sse = "text/event-stream";
  assert.ok(accepts(null, sse));
  assert.ok(accepts("", sse));
  assert.ok(accepts("*/*", sse));
  assert.ok(accepts("text/*", sse));
  assert.ok(accepts("text/event-stream", sse));
  assert.ok(accepts("TEXT/Event-Stream; charset=utf-8", sse), "case and parameters");
  assert.ok(accepts("application/json, text/event-stream;q=0.5", sse));
  // What browsers send when navigating: */* at a lower q still allows it.
  assert.ok(
    accepts("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json"),
  );
});

Deno.test("accepts() refuses a type Accept leaves out or gives q=0, the most specific range deciding", () => {
  const sse = "text/event-stream";
  assert.equal(accepts("application/json", sse), false);
  assert.equal(accepts("text/html", sse), false);
  assert.equal(accepts("text/event-stream;q=0", sse), false);
  assert.equal(accepts("*/*, text/event-stream;q=0", sse), false, "specific q=0 beats */*");
  assert.equal(accepts("text/*;q=0, */*", sse), false);
  assert.ok(accepts("text/*;q=0, text/event-stream", sse), "specific beats text/*");
  assert.equal(accepts("application/*", "text/html"), false);
});

Deno.test("accepts() ignores malformed ranges, and a header of nothing else allows anything", () => {
  assert.ok(accepts("garbage", "application/json"));
  assert.ok(accepts("/, ;;, text/", "application/json"));
  assert.ok(accepts("*/json", "application/json"), "*/subtype is not a range");
  assert.equal(accepts("garbage, text/html", "application/json"), false);
  assert.ok(accepts("application/json;q=2, */*", "application/json"), "bad q: range ignored");
  // Only the first ACCEPT_CHARS_MAX characters are read: a range beyond them does not count.
  assert.equal(accepts("x/y, ".repeat(5_000) + "text/html", "text/html"), false);
});

Deno.test("requireAccept() throws a 406 problem; refuseUnknownQuery() a 400 naming the parameter", () => {
  assert.throws(
    () => requireAccept("application/xml", "application/json"),
    (e: unknown) => e instanceof Problem && e.slug === "not-acceptable" && e.status === 406,
  );
  requireAccept(null, "application/json");
  refuseUnknownQuery("http://x/v1/status");
  refuseUnknownQuery("http://x/v1/status?a=1", ["a"]);
  assert.throws(
    () => refuseUnknownQuery("http://x/v1/status?verbose=1"),
    (e: unknown) =>
      e instanceof Problem && e.slug === "invalid-request" && /"verbose"/.test(e.message),
  );
  assert.throws(() => refuseUnknownQuery("http://x/v1/status?" + "x".repeat(500)), Problem);
});
