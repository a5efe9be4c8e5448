import { readFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

// A TCP forwarder for the chaos lab, run as its own process:
//  - in the root namespace it makes services that listen on 127.0.0.1 (etcd,
//    FerretDB) reachable from the lab's namespaces through the bridge address;
//  - inside a participant's namespace it sits in front of the participant and
//    adds latency on demand (the kernel here has no netem).
// When the target is down, connections are refused/reset as they would be directly.
//
//   node tcp-forwarder.js [--delay-file PATH] LISTEN_HOST:PORT=TARGET_HOST:PORT ...
//
// With --delay-file, SIGHUP re-reads the one-way delay (ms) added to every
// chunk sent to the target from that file (missing or empty: 0).

function split(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(":");
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

const args = process.argv.slice(2);
let delayMs = 0;
const delayFileAt = args.indexOf("--delay-file");
if (delayFileAt >= 0) {
  const file = args.splice(delayFileAt, 2)[1] as string;
  const reload = () => {
    try {
      delayMs = Number(readFileSync(file, "utf8").trim()) || 0;
    } catch {
      delayMs = 0;
    }
    console.log(`delay ${delayMs} ms`);
  };
  process.on("SIGHUP", reload);
  reload();
}

/** Pipes `from` into `to`, holding each chunk back by the current delay (order kept: the delay only changes between faults). */
function pipeDelayed(from: Socket, to: Socket): void {
  from.on("data", (chunk) => {
    if (delayMs <= 0) to.write(chunk);
    else setTimeout(() => to.destroyed || to.write(chunk), delayMs);
  });
  from.on("end", () => setTimeout(() => to.end(), delayMs));
}

for (const mapping of args) {
  const [from, to] = mapping.split("=");
  if (!from || !to) {
    console.error(`expected LISTEN_HOST:PORT=TARGET_HOST:PORT, got ${mapping}`);
    process.exit(2);
  }
  const target = split(to);
  const server = createServer((client) => {
    const upstream = connect(target);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    pipeDelayed(client, upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  const listen = split(from);
  server.listen(listen.port, listen.host, () => console.log(`forwarding ${from} -> ${to}`));
}
