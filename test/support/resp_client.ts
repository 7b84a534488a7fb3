/**
 * A minimal RESP2 client over `Deno.connect`, for tests that talk to a real `redis-server`.
 *
 * Binary-safe: arguments may be bytes, bulk replies are returned as bytes. Supports pipelining
 * (many commands in one write, their replies read in order) and MULTI/EXEC. Calls on one
 * connection are serialized, so concurrent callers never interleave their commands or replies.
 */

/** An argument of a command; strings are sent as UTF-8, numbers in their decimal form. */
export type RespArg = string | number | Uint8Array;

/** A status reply such as `+OK` or `+PONG` (distinct from a bulk string with the same text). */
export class SimpleString {
  constructor(readonly value: string) {}
}

/** An error reply such as `-ERR unknown command`. A value, not thrown, so pipelines keep going. */
export class ErrorReply {
  constructor(readonly message: string) {}
}

/**
 * One reply: status, error, integer, bulk string (bytes, or null for `$-1`), or array (nested,
 * or null for `*-1`). Integers beyond 2^53 lose precision (they are rare in tests).
 */
export type RespReply =
  | SimpleString
  | ErrorReply
  | number
  | Uint8Array
  | null
  | RespReply[];

/** The replies of a MULTI/EXEC block. */
export interface TransactionReplies {
  /** The reply to each queued command: `QUEUED`, or an error that aborts the transaction. */
  readonly queued: RespReply[];
  /** The reply to EXEC: one result per command, or an error (e.g. `EXECABORT`). */
  readonly exec: RespReply;
}

/** Initial read buffer, in bytes; it grows to fit the largest reply. */
const READ_CHUNK_BYTES = 64 * 1024;
/** Deepest nesting of arrays accepted in a reply. */
const REPLY_DEPTH_MAX = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = encoder.encode("\r\n");

/** Thrown when the connection closes or the server sends bytes that are not RESP2. */
export class RespProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RespProtocolError";
  }
}

/** Encodes commands as RESP arrays of bulk strings, all into one buffer. */
export function encodeCommands(
  commands: readonly (readonly RespArg[])[],
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const command of commands) {
    parts.push(encoder.encode(`*${command.length}\r\n`));
    for (const arg of command) {
      const bytes = arg instanceof Uint8Array ? arg : encoder.encode(String(arg));
      parts.push(encoder.encode(`$${bytes.length}\r\n`), bytes, CRLF);
    }
  }
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Buffered reads of lines and exact byte counts from a connection. */
class BufferedReader {
  #buf = new Uint8Array(READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;

  constructor(private readonly conn: Deno.Conn) {}

  /** Reads more bytes, first making room for at least `want` buffered bytes (and one more). */
  async #fill(want: number): Promise<void> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    const need = Math.max(want, this.#end + 1);
    if (need > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(0, this.#end));
      this.#buf = bigger;
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) {
      throw new RespProtocolError(
        "Cannot read reply: connection closed by redis",
      );
    }
    this.#end += n;
  }

  async line(): Promise<string> {
    let scanFrom = this.#start;
    for (;;) {
      for (let i = scanFrom; i + 1 < this.#end; i++) {
        if (this.#buf[i] === 13 && this.#buf[i + 1] === 10) {
          const text = decoder.decode(this.#buf.subarray(this.#start, i));
          this.#start = i + 2;
          return text;
        }
      }
      const offset = Math.max(this.#end - 1, this.#start) - this.#start;
      await this.#fill(0);
      scanFrom = this.#start + offset;
    }
  }

  async exact(n: number): Promise<Uint8Array> {
    while (this.#end - this.#start < n) await this.#fill(n);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }
}

function parseLength(text: string, line: string): number {
  if (!/^-?\d+$/.test(text)) {
    throw new RespProtocolError(`Cannot parse reply line: ${line}`);
  }
  return Number(text);
}

async function readReply(
  reader: BufferedReader,
  depth = 0,
): Promise<RespReply> {
  if (depth > REPLY_DEPTH_MAX) {
    throw new RespProtocolError("Cannot parse reply: nested too deep");
  }
  const line = await reader.line();
  const rest = line.slice(1);
  switch (line[0]) {
    case "+":
      return new SimpleString(rest);
    case "-":
      return new ErrorReply(rest);
    case ":":
      return parseLength(rest, line);
    case "$": {
      const len = parseLength(rest, line);
      if (len < 0) return null;
      const bytes = await reader.exact(len + 2);
      if (bytes[len] !== 13 || bytes[len + 1] !== 10) {
        throw new RespProtocolError(
          "Cannot parse bulk reply: missing CRLF after the payload",
        );
      }
      return bytes.subarray(0, len);
    }
    case "*": {
      const count = parseLength(rest, line);
      if (count < 0) return null;
      const items: RespReply[] = [];
      for (let i = 0; i < count; i++) {
        items.push(await readReply(reader, depth + 1));
      }
      return items;
    }
    default:
      throw new RespProtocolError(
        `Cannot parse reply line: ${JSON.stringify(line)}`,
      );
  }
}

/** One TCP connection to redis. Not safe to share after {@linkcode close}. */
export class RespConnection {
  readonly #conn: Deno.Conn;
  readonly #reader: BufferedReader;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Set once a read or write failed; the stream position is then unknown. */
  #broken = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#reader = new BufferedReader(conn);
  }

  /** Opens a connection to redis on `hostname` (default 127.0.0.1) and `port`. */
  static async connect(
    port: number,
    hostname = "127.0.0.1",
  ): Promise<RespConnection> {
    const conn = await Deno.connect({ hostname, port, transport: "tcp" });
    conn.setNoDelay(true);
    return new RespConnection(conn);
  }

  /** True when the connection can no longer be used (closed, or a read or write failed). */
  get broken(): boolean {
    return this.#closed || this.#broken;
  }

  /**
   * Sends all commands in one write and reads one reply per command, in order. Error replies are
   * returned as {@linkcode ErrorReply} values; only I/O and protocol failures throw.
   */
  pipeline(commands: readonly (readonly RespArg[])[]): Promise<RespReply[]> {
    const run = async () => {
      if (this.broken) {
        throw new RespProtocolError(
          "Cannot send commands: connection is closed",
        );
      }
      try {
        const bytes = encodeCommands(commands);
        for (let written = 0; written < bytes.length;) {
          written += await this.#conn.write(bytes.subarray(written));
        }
        const replies: RespReply[] = [];
        for (let i = 0; i < commands.length; i++) {
          replies.push(await readReply(this.#reader));
        }
        return replies;
      } catch (error) {
        this.#broken = true;
        throw error;
      }
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Sends one command and reads its reply. */
  async command(...args: RespArg[]): Promise<RespReply> {
    const [reply] = await this.pipeline([args]);
    return reply;
  }

  /** Runs `commands` between MULTI and EXEC, in one write. */
  async transaction(
    commands: readonly (readonly RespArg[])[],
  ): Promise<TransactionReplies> {
    const replies = await this.pipeline([["MULTI"], ...commands, ["EXEC"]]);
    const multi = replies[0];
    if (!(multi instanceof SimpleString)) {
      throw new RespProtocolError(
        `Cannot start transaction: MULTI answered ${describe(multi)}`,
      );
    }
    return { queued: replies.slice(1, -1), exec: replies[replies.length - 1] };
  }

  /** Closes the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer; nothing left to release.
    }
  }
}

/** A short human-readable rendering of a reply, for error messages. */
export function describe(reply: RespReply): string {
  if (reply === null) return "null";
  if (reply instanceof SimpleString) return `+${reply.value}`;
  if (reply instanceof ErrorReply) return `-${reply.message}`;
  if (reply instanceof Uint8Array) return JSON.stringify(decoder.decode(reply));
  if (Array.isArray(reply)) return `[${reply.map(describe).join(", ")}]`;
  return String(reply);
}

/** Decodes a bulk or status reply as UTF-8 text; null stays null. Throws on other replies. */
export function replyText(reply: RespReply): string | null {
  if (reply === null) return null;
  if (reply instanceof Uint8Array) return decoder.decode(reply);
  if (reply instanceof SimpleString) return reply.value;
  throw new RespProtocolError(
    `Expected a string reply, got ${describe(reply)}`,
  );
}
