/** A "host:port" listen address split into its parts ("[::1]:50051" for IPv6). */
export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(listen: string): ListenAddress {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port > 65535) {
    throw new TypeError(`listen must be "host:port" (port 0 picks a free one), got "${listen}"`);
  }
  return { host: match[1], port };
}
