import { EventEmitter } from "node:events";
import type { MongoClient } from "mongodb";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MongoMonitorWatchdog } from "./mongo-monitor-watchdog.js";

/** The client surface the watchdog uses: heartbeat events, close and connect. */
class FakeClient extends EventEmitter {
  calls: string[] = [];
  failConnects = 0;
  async close() {
    this.calls.push("close");
  }
  async connect() {
    this.calls.push("connect");
    if (this.failConnects-- > 0) throw new Error("server selection timed out");
  }
}

function setup() {
  let now = 0;
  const client = new FakeClient();
  const watchdog = new MongoMonitorWatchdog(
    client as unknown as MongoClient,
    { stuckAfterMs: 15_000, reconnectPauseMs: 0, now: () => now },
    pino({ level: "silent" }),
  );
  return { client, watchdog, advance: (ms: number) => (now += ms) };
}

describe("MongoMonitorWatchdog", () => {
  it("leaves a client alone while heartbeats finish, however many fail", async () => {
    const { client, watchdog, advance } = setup();
    for (let i = 0; i < 20; i++) {
      client.emit("serverHeartbeatStarted", { connectionId: "db:27017" });
      advance(5_000);
      client.emit(i % 2 ? "serverHeartbeatFailed" : "serverHeartbeatSucceeded", { connectionId: "db:27017" });
      await watchdog.check();
    }
    expect(client.calls).toEqual([]);
  });

  it("closes and connects the client again when a heartbeat never ends", async () => {
    const { client, watchdog, advance } = setup();
    client.emit("serverHeartbeatStarted", { connectionId: "db:27017" });
    advance(15_000);
    await watchdog.check();
    expect(client.calls).toEqual([]);
    advance(1);
    await watchdog.check();
    expect(client.calls).toEqual(["close", "connect"]);
    expect(watchdog.restarts).toBe(1);
    // The stuck heartbeat is forgotten: the new monitor's heartbeats count from now on.
    advance(60_000);
    await watchdog.check();
    expect(watchdog.restarts).toBe(1);
  });

  it("keeps connecting until the server answers (a closed client does not reconnect by itself)", async () => {
    const { client, watchdog, advance } = setup();
    client.failConnects = 2;
    client.emit("serverHeartbeatStarted", { connectionId: "db:27017" });
    advance(20_000);
    await watchdog.check();
    expect(client.calls).toEqual(["close", "connect", "connect", "connect"]);
  });
});
