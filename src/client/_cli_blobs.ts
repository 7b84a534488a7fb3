/**
 * The agent CLI's blob commands (docs/protocol.md §25): `put-blob <file>` uploads a file with a
 * request the agent signs and pushes its signed metadata (seq from the key's seq-state file,
 * like `push`); `get-blob <sha256>` writes a blob to stdout or `--out FILE`, whole (checked
 * against its name: a file is only renamed into place when the bytes hash right) or a range.
 * Files are streamed both ways: hashed in one pass, then sent in a second; never held whole.
 */
import { BLOB_BYTES_MAX, BLOBS_CHANNEL, SHA256_HEX_PATTERN } from "../protocol/blob_ref.ts";
import { Agent } from "./agent.ts";
import { blobRefOp, type ByteRange, hashStream } from "./blob_client.ts";
import { CliError, type Flags, loadKey, rejection } from "./_cli_common.ts";
import { UsageError } from "./_cli_ops.ts";
import { HybridClock } from "./hybrid_clock.ts";
import { MeshClient } from "./mesh_client.ts";
import { FileSeqLedger } from "./seq_ledger.ts";

export async function putBlobCommand(flags: Flags): Promise<number> {
  const [path, ...extra] = flags.rest;
  if (path === undefined) throw new UsageError("put-blob needs a file");
  if (extra.length > 0) throw new UsageError("put-blob takes one file");
  const size = await fileSize(path);
  if (size < 1 || size > BLOB_BYTES_MAX) {
    throw new CliError(
      `Cannot upload ${path} as a blob has 1 to ${BLOB_BYTES_MAX} bytes: it has ${size}`,
    );
  }
  const key = await loadKey(flags.key, "upload a blob");
  const client = new MeshClient(flags.url);
  const agent = new Agent(key, new HybridClock(), new FileSeqLedger(flags.key, key.id));
  const meta = {
    name: flags.name ?? path.split("/").at(-1)!,
    type: flags.type ?? "application/octet-stream",
    ...(flags.tags.length > 0 ? { tags: flags.tags } : {}),
  };
  const open = async () => (await Deno.open(path)).readable;
  const { sha256 } = await hashStream(await open());
  agent.check(BLOBS_CHANNEL, [blobRefOp(key.id, sha256, size, meta)]); // costs no seq, sends nothing
  await agent.resumeFrom(client, BLOBS_CHANNEL);
  // The file is opened again for the upload; a file that changed in between fails the hash (422).
  const stream = await open();
  const put = await client.putBlob(agent, { stream: () => stream, sha256, size }, meta);
  console.log(
    JSON.stringify({ sha256: put.sha256, size: put.size, status: put.status, ref: put.ref }),
  );
  if (put.ref.status !== "rejected") return 0;
  console.error(rejection(put.ref));
  return 1;
}

export async function getBlobCommand(flags: Flags): Promise<number> {
  const [sha256, ...extra] = flags.rest;
  if (sha256 === undefined) throw new UsageError("get-blob needs the blob's sha256");
  if (extra.length > 0) throw new UsageError("get-blob takes one sha256");
  if (!SHA256_HEX_PATTERN.test(sha256)) {
    throw new UsageError(`${JSON.stringify(sha256)} is not a sha256: 64 lowercase hex digits`);
  }
  const range = rangeOf(flags.range);
  const opened = await new MeshClient(flags.url).openBlob(sha256, { range });
  if (flags.out === undefined) {
    await opened.stream.pipeTo(Deno.stdout.writable, { preventClose: true });
    return 0;
  }
  // Written beside, then renamed: a whole blob lands under its name only once it hashed right.
  const partial = `${flags.out}.part`;
  const file = await Deno.open(partial, { write: true, create: true, truncate: true });
  try {
    await opened.stream.pipeTo(file.writable);
  } catch (error) {
    await Deno.remove(partial).catch(() => {});
    throw new CliError(`Cannot write ${flags.out}: ${(error as Error).message}`);
  }
  await Deno.rename(partial, flags.out);
  const bytes = opened.range === null ? opened.size : opened.range.end - opened.range.start + 1;
  console.error(
    `${bytes} bytes → ${flags.out}${
      opened.verified ? " (sha256 verified)" : " (a range: not verified)"
    }`,
  );
  return 0;
}

/** `--range a-b` or `a-` (bytes, inclusive), checked here so a typo is a usage error. */
function rangeOf(text: string | undefined): ByteRange | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d{1,16})-(\d{0,16})$/.exec(text);
  const start = Number(match?.[1]);
  const end = match?.[2] ? Number(match[2]) : undefined;
  if (match === null || (end !== undefined && end < start)) {
    throw new UsageError(`--range must be FIRST-LAST or FIRST- (bytes, from 0), got ${text}`);
  }
  return { start, end };
}

async function fileSize(path: string): Promise<number> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new CliError(`Cannot upload ${path} as it is not a file`);
    return info.size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(`Cannot upload ${path}: no such file`);
    }
    throw error;
  }
}
