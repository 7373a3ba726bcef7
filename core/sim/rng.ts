// Seeded randomness for the simulator: every draw is a pure function of its string seed, so the
// same (prompt, seed, occurrence) always gets the same answer and the same fault.
import { createHash } from 'node:crypto';

export class Rng {
  private s: number;
  constructor(seed: string) {
    this.s = createHash('sha256').update(seed).digest().readUInt32LE(0) || 0x9e3779b9;
  }
  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
}
