/**
 * Server-Sent Events as tests and benchmarks read them: the events of a response body, one at a
 * time, each with its `event`, `id` and `data` fields (comments and `retry:` skipped). A test's
 * own small parser, so a test of the region does not trust the SDK's.
 */
export interface SseEvent {
  readonly event: string;
  readonly id: string;
  /** The `data:` text (JSON for the mesh's events). */
  readonly data: string;
}

/** The events of `response`'s body until it ends (or the caller stops iterating). */
export async function* sseEvents(response: Response): AsyncGenerator<SseEvent> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const fields = new Map<string, string>();
        for (const line of buffer.slice(0, end).split("\n")) {
          const at = line.indexOf(": ");
          if (at > 0) fields.set(line.slice(0, at), line.slice(at + 2));
        }
        buffer = buffer.slice(end + 2);
        const event = fields.get("event");
        if (event !== undefined) {
          yield { event, id: fields.get("id") ?? "", data: fields.get("data") ?? "{}" };
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
