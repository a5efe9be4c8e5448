import net from "node:net";

/**
 * A TCP proxy to `target` (host:port) that a test can turn into a black hole:
 * while cut, it accepts connections and reads bytes but forwards nothing and
 * answers nothing, like a network that silently drops packets (no reset, so
 * the client only learns from its own timeouts). restore() drops the
 * black-holed connections and forwards new ones again.
 */
export interface BlackHoleProxy {
  /** host:port to connect to instead of the target. */
  address: string;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startBlackHoleProxy(target: string): Promise<BlackHoleProxy> {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    Number(target.slice(target.lastIndexOf(":") + 1)),
  ];
  let cut = false;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => client.destroy());
    if (cut) {
      client.on("data", () => undefined);
      return;
    }
    const upstream = net.connect(port, host);
    open.add(upstream);
    upstream.on("close", () => open.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("data", (chunk) => {
      if (!cut) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!cut) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: listenPort } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${listenPort}`,
    cut: () => {
      cut = true;
    },
    restore: () => {
      cut = false;
      for (const socket of open) socket.destroy();
    },
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
