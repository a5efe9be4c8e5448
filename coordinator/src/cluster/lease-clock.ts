/**
 * How long this node's etcd lease is known to live, from this node's own
 * clock. etcd expires a lease TTL after the last keepalive it received, and
 * it received each answered keepalive no earlier than we sent it, so "sent at
 * + TTL" of the last answered keepalive is a lower bound of the expiry. A
 * node that was paused (SIGSTOP, a long GC) sees its lease as expired the
 * moment it runs again, before any timer or etcd event can mislead it.
 */
export class LeaseClock {
  private validUntil: number;
  /** Send times of keepalives not answered yet, oldest first (etcd answers in order on a stream). */
  private sent: number[] = [];

  constructor(
    private readonly ttlMs: number,
    requestedAt: number,
    private readonly now: () => number = Date.now,
  ) {
    this.validUntil = requestedAt + ttlMs;
  }

  alive(): boolean {
    return this.now() < this.validUntil;
  }

  /** A keepalive was sent. */
  fired(): void {
    this.sent.push(this.now());
  }

  /** A keepalive was answered with a positive TTL. */
  answered(): void {
    const sentAt = this.sent.shift();
    if (sentAt !== undefined) this.validUntil = Math.max(this.validUntil, sentAt + this.ttlMs);
  }

  /** A new keepalive stream: what was sent on the old one will never be answered. */
  streamOpened(): void {
    this.sent = [];
  }

  /** etcd said the lease is gone. */
  expire(): void {
    this.validUntil = 0;
    this.sent = [];
  }
}
