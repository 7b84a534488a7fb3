/** The public face of src/topics/: publish/subscribe with replay (docs/protocol.md §22). */
export * from "./cursor.ts";
export * from "./hub.ts";
export * from "./replay.ts";
export * from "./routes.ts";
export * from "./sse.ts";
export * from "./subject.ts";
export * from "./subscription.ts";
export * from "./topic_event.ts";
