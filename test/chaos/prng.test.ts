import { describe, expect, it } from "vitest";
import { Prng } from "./prng.js";

describe("Prng (mulberry32)", () => {
  it("gives the same sequence for the same seed and a different one for another seed", () => {
    const a = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Prng(42)),
    );
    const b = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Prng(42)),
    );
    const c = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Prng(43)),
    );
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    for (const x of a) expect(x >= 0 && x < 1).toBe(true);
  });

  it("matches the reference mulberry32 output for seed 1", () => {
    // First value of the reference implementation (a = 1): 0.6270739405881613.
    expect(new Prng(1).next()).toBeCloseTo(0.6270739405881613, 15);
  });

  it("keeps int() within its bounds and reaches both ends", () => {
    const r = new Prng(7);
    const seen = new Set(Array.from({ length: 500 }, () => r.int(3, 6)));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it("never picks a key of weight 0", () => {
    const r = new Prng(9);
    for (let i = 0; i < 500; i++) expect(r.weighted({ a: 1, b: 0, c: 2 })).not.toBe("b");
  });

  it("forks independent streams: drawing more from one does not change the other", () => {
    const one = new Prng(5);
    const left = one.fork();
    const right = one.fork();
    const two = new Prng(5);
    two.fork();
    const right2 = two.fork();
    left.next();
    left.next();
    expect(right.next()).toBe(right2.next());
  });
});
