import { execFileSync } from "node:child_process";

// One network namespace per chaos process (each coordinator, each
// participant), joined by veth pairs to a bridge in the root namespace. The
// addresses are a private /24 used only inside this lab. A coordinator is
// partitioned by taking its link down.
// Every name carries the runner's pid, so a later run can remove what a
// crashed run left behind.

const PREFIX = "sgc";

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function tryIp(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Namespaces and links of chaos runs whose runner is gone: kills their processes and deletes them. */
export function removeStaleLabs(): string[] {
  const removed: string[] = [];
  const stale = (name: string) => {
    const m = new RegExp(`^${PREFIX}(\\d+)[-bv]`).exec(name);
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  };
  for (const line of ip("netns", "list").split("\n")) {
    const ns = line.split(" ")[0] ?? "";
    if (!stale(ns)) continue;
    for (const pid of ip("netns", "pids", ns).split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
    tryIp("netns", "del", ns);
    removed.push(ns);
  }
  for (const line of ip("-o", "link", "show").split("\n")) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? "";
    if (stale(name)) {
      tryIp("link", "del", name);
      removed.push(name);
    }
  }
  return removed;
}

/** A free 10.213.X.0/24 (X from the pid, skipping any /24 already on a link). */
function pickSubnet(): string {
  const used = ip("-4", "-o", "addr", "show");
  for (let i = 0; i < 200; i++) {
    const x = 20 + ((process.pid + i) % 200);
    const net = `10.213.${x}`;
    if (!used.includes(` ${net}.`)) return net;
  }
  throw new Error("no free 10.213.X.0/24 for the chaos lab");
}

export class NetworkLab {
  readonly hostAddress: string;
  private readonly bridge: string;
  private readonly members = new Map<string, { ns: string; veth: string; address: string }>();
  private destroyed = false;

  private constructor(
    private readonly id: string,
    private readonly subnet: string,
  ) {
    this.bridge = `${id}b`;
    this.hostAddress = `${subnet}.1`;
  }

  /** Creates the bridge and one namespace per name. Needs root (CAP_NET_ADMIN). */
  static create(names: readonly string[]): NetworkLab {
    const lab = new NetworkLab(`${PREFIX}${process.pid}`, pickSubnet());
    process.once("exit", () => lab.destroy());
    try {
      ip("link", "add", lab.bridge, "type", "bridge");
      ip("addr", "add", `${lab.hostAddress}/24`, "dev", lab.bridge);
      ip("link", "set", lab.bridge, "up");
      for (const [i, name] of names.entries()) lab.addMember(name, i + 1);
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  private addMember(name: string, index: number): void {
    const ns = `${this.id}-${index}`;
    const veth = `${this.id}v${index}`;
    const peer = `${this.id}p${index}`;
    const address = `${this.subnet}.${10 + index}`;
    ip("netns", "add", ns);
    this.members.set(name, { ns, veth, address });
    ip("link", "add", veth, "type", "veth", "peer", "name", peer);
    ip("link", "set", peer, "netns", ns);
    ip("link", "set", veth, "master", this.bridge, "up");
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", ns, "link", "set", peer, "name", "eth0");
    ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
    ip("-n", ns, "link", "set", "eth0", "up");
  }

  private member(name: string) {
    const m = this.members.get(name);
    if (!m) throw new Error(`no lab member ${name}`);
    return m;
  }

  addressOf(name: string): string {
    return this.member(name).address;
  }

  /** The command prefix that runs a program inside `name`'s namespace. */
  execPrefix(name: string): string[] {
    return ["ip", "netns", "exec", this.member(name).ns];
  }

  /** Cuts `name` off the network (every peer, etcd, the database) until heal(). */
  cut(name: string): void {
    ip("link", "set", this.member(name).veth, "down");
  }

  heal(name: string): void {
    ip("link", "set", this.member(name).veth, "up");
  }

  /** Deletes the namespaces (their veth pairs go with them) and the bridge. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const { ns } of this.members.values()) tryIp("netns", "del", ns);
    tryIp("link", "del", this.bridge);
  }

  describe(): string {
    const members = [...this.members].map(([name, m]) => `${name}=${m.address}`).join(" ");
    return `bridge ${this.bridge} ${this.hostAddress}/24; ${members}`;
  }
}
