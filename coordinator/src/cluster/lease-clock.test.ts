import { describe, expect, it } from "vitest";
import { LeaseClock } from "./lease-clock.js";

describe("LeaseClock", () => {
  const clock = () => {
    let now = 1000;
    const lease = new LeaseClock(3000, now, () => now);
    return {
      lease,
      at: (t: number) => {
        now = t;
      },
    };
  };

  it("counts a fresh lease alive for one TTL from the grant request", () => {
    const { lease, at } = clock();
    at(3999);
    expect(lease.alive()).toBe(true);
    at(4000);
    expect(lease.alive()).toBe(false);
  });

  it("extends from the send time of an answered keepalive, not from the answer", () => {
    const { lease, at } = clock();
    at(2000);
    lease.fired();
    at(2900); // a slow answer
    lease.answered();
    at(4999);
    expect(lease.alive()).toBe(true);
    at(5000);
    expect(lease.alive()).toBe(false);
  });

  it("matches answers to keepalives in order, and forgets those of a closed stream", () => {
    const { lease, at } = clock();
    at(1500);
    lease.fired();
    at(2500);
    lease.fired();
    lease.streamOpened(); // both were sent on a stream that broke
    at(3000);
    lease.fired();
    at(3100);
    lease.answered(); // the answer to the keepalive sent at 3000
    at(5999);
    expect(lease.alive()).toBe(true);
    at(6000);
    expect(lease.alive()).toBe(false);
  });

  it("says expired at once when the process was paused past the TTL, whatever comes next", () => {
    const { lease, at } = clock();
    at(20_000); // SIGCONT after a long SIGSTOP
    expect(lease.alive()).toBe(false);
    lease.answered(); // an answer with nothing sent on this stream extends nothing
    expect(lease.alive()).toBe(false);
  });

  it("stays expired after etcd said the lease is gone", () => {
    const { lease } = clock();
    lease.fired();
    lease.expire();
    lease.answered();
    expect(lease.alive()).toBe(false);
  });
});
