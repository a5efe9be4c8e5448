import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

/** Serves GET /metrics in the Prometheus text format. */
export async function startMetricsServer(listen: string, registry: Registry): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("not found; metrics are at /metrics\n");
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  const at = listen.lastIndexOf(":");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(listen.slice(at + 1)), listen.slice(0, at).replace(/^\[|\]$/g, ""), resolve);
  });
  return server;
}
