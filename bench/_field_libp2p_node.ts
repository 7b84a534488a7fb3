/**
 * One js-libp2p gossipsub peer for bench/field.ts, run as its own process (as a region is):
 * TCP on 127.0.0.1, Noise, Yamux, identify, gossipsub with its defaults (messages signed by the
 * publishing peer and verified by every receiver: `StrictSign`).
 *
 *   deno run -A bench/_field_libp2p_node.ts
 *
 * Driven by JSON lines on stdin, answering JSON lines on stdout:
 * - at start: `{"ready": "<peer id>", "addr": "/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>"}`
 * - `{"dial": "<multiaddr>"}` → `{"dialed": "<multiaddr>"}`
 * - `{"subscribe": "<topic>"}` → `{"subscribed": "<topic>"}`
 * - `{"peers": "<topic>"}` → `{"mesh": n, "subscribers": n}` (this peer's mesh and known
 *   subscribers of the topic)
 * - `{"publish": "<topic>", "i": n, "bytes": b}` → publishes b bytes whose first 4 hold n
 *   (big-endian); answers nothing (the bench times the receiver's line)
 * - on a message of a subscribed topic: `{"got": n}`
 * - `{"stop": true}` → stops the node and exits
 */
import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { identify } from "@libp2p/identify";
import { type GossipSub, gossipsub, type GossipsubEvents } from "@chainsafe/libp2p-gossipsub";
import { multiaddr } from "@multiformats/multiaddr";

const node = await createLibp2p({
  addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }),
  },
});
// The factory is typed as the PubSub interface; the service is the GossipSub class.
const pubsub = node.services.pubsub as unknown as GossipSub;
const encoder = new TextEncoder();
const say = (line: unknown) => Deno.stdout.writeSync(encoder.encode(JSON.stringify(line) + "\n"));

pubsub.addEventListener("message", (event: GossipsubEvents["message"]) => {
  const data = event.detail.data;
  say({ got: new DataView(data.buffer, data.byteOffset, 4).getUint32(0) });
});

/** The lines of a byte stream. */
async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
}

say({ ready: node.peerId.toString(), addr: node.getMultiaddrs()[0].toString() });

for await (const line of linesOf(Deno.stdin.readable)) {
  if (line.trim() === "") continue;
  const command = JSON.parse(line);
  if (command.dial !== undefined) {
    await node.dial(multiaddr(command.dial));
    say({ dialed: command.dial });
  } else if (command.subscribe !== undefined) {
    pubsub.subscribe(command.subscribe);
    say({ subscribed: command.subscribe });
  } else if (command.peers !== undefined) {
    say({
      mesh: pubsub.getMeshPeers(command.peers).length,
      subscribers: pubsub.getSubscribers(command.peers).length,
    });
  } else if (command.publish !== undefined) {
    const data = new Uint8Array(command.bytes);
    new DataView(data.buffer).setUint32(0, command.i);
    await pubsub.publish(command.publish, data);
  } else if (command.stop) break;
}
await node.stop();
Deno.exit(0);
