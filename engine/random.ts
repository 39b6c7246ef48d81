/**
 * Randomness of a run, for every regime.
 *
 * - `cryptoRandom()` draws from node:crypto (CSPRNG). It is the only source a
 *   real release may use.
 * - `seededRandom(seed)` (seedrandom, ARC4) is for tests and reproducible
 *   demos; its kind is 'seeded' and the seed is recorded so the manifest can
 *   say so.
 *
 * `RandomReader` turns a source's bytes into uniform integers. Uniform
 * integers in [0, n) are drawn by rejection sampling on masked random bits:
 * draw ceil(log2 n) uniform bits, accept when the value is < n, otherwise
 * redraw. Guarantee: every value in [0, n) has probability exactly 1/n (no
 * modulo bias), because the accepted draws are uniform on [0, 2^bits) restricted
 * to [0, n). Expected number of draws < 2 since n > 2^(bits-1).
 *
 * `randomSourceFor(seed)` picks the source of a run; `drawKey(rng)` draws one 32-byte secret of the run (the
 * bounding key, then any secret a regime asks for, in that order: seeded runs stay byte-identical).
 */
import { randomBytes } from 'node:crypto';
import seedrandom from 'seedrandom';
import type { RandomSource } from './types.ts';
import { StatguardError } from './errors.ts';

const POOL_BYTES = 65536;

/** Cryptographically secure source (node:crypto), buffered in 64 KiB pools for speed. */
export function cryptoRandom(): RandomSource {
  let pool = randomBytes(POOL_BYTES);
  let pos = 0;
  return Object.freeze({
    kind: 'crypto' as const,
    seed: null,
    bytes(n: number): Uint8Array {
      checkByteCount(n);
      if (n > POOL_BYTES) return new Uint8Array(randomBytes(n));
      if (pos + n > POOL_BYTES) {
        pool = randomBytes(POOL_BYTES);
        pos = 0;
      }
      // Copy out: bytes handed out are never handed out again (pos advances).
      const out = new Uint8Array(pool.subarray(pos, pos + n));
      pos += n;
      return out;
    },
  });
}

/**
 * Deterministic source for tests and demos (seedrandom ARC4). A single byte
 * stream: the bytes returned do not depend on how requests are split.
 * Never use it for a real release.
 */
export function seededRandom(seed: string): RandomSource {
  if (typeof seed !== 'string' || seed.length === 0) {
    throw new StatguardError('USAGE', 'seededRandom needs a non-empty seed string');
  }
  const prng = seedrandom(seed);
  let word = 0;
  let left = 0; // unread bytes of `word`
  return Object.freeze({
    kind: 'seeded' as const,
    seed,
    bytes(n: number): Uint8Array {
      checkByteCount(n);
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        if (left === 0) {
          word = prng.int32() >>> 0;
          left = 4;
        }
        out[i] = word & 0xff;
        word >>>= 8;
        left--;
      }
      return out;
    },
  });
}

function checkByteCount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new StatguardError('USAGE', `random byte count must be a non-negative integer, got ${n}`);
}

const TWO32 = 0x100000000;
const TWO32N = 0x100000000n;
const CHUNK = 4096;

/** Number of bits needed to write x (x >= 0); bitLength(0) = 0. */
export function bitLength(x: bigint): number {
  if (x < 0n) x = -x;
  if (x === 0n) return 0;
  // toString(16) is fast and exact for BigInt.
  const hex = x.toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0]!, 16)));
}

/**
 * Reads a RandomSource in 4 KiB chunks and serves uniform words, bits and
 * integers. All methods consume fresh bytes; no byte is used twice.
 */
export class RandomReader {
  readonly source: RandomSource;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private bitWord = 0;
  private bitsLeft = 0;

  constructor(source: RandomSource) {
    this.source = source;
  }

  private refill(): void {
    const b = this.source.bytes(CHUNK);
    if (!(b instanceof Uint8Array) || b.length !== CHUNK) {
      throw new StatguardError('USAGE', `random source returned ${b?.length ?? 'no'} bytes, ${CHUNK} requested`);
    }
    this.buf = b;
    this.pos = 0;
  }

  /** Uniform integer in [0, 2^32). */
  uint32(): number {
    if (this.pos + 4 > this.buf.length) this.refill();
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  /** One fair bit (Bernoulli(1/2)). */
  bit(): boolean {
    if (this.bitsLeft === 0) {
      this.bitWord = this.uint32();
      this.bitsLeft = 32;
    }
    const out = (this.bitWord & 1) === 1;
    this.bitWord >>>= 1;
    this.bitsLeft--;
    return out;
  }

  /** Uniform integer in [0, n) for an integer 1 <= n <= 2^32 (rejection on masked bits; no modulo bias). */
  uniformInt(n: number): number {
    if (n === 1) return 0;
    if (!(n >= 1 && n <= TWO32 && Number.isInteger(n)))
      throw new StatguardError('USAGE', `uniformInt range must be an integer in [1, 2^32], got ${n}`);
    const bits = 32 - Math.clz32(n - 1); // n - 1 < 2^32 so it fits clz32 after >>> 0
    const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    for (;;) {
      const x = (this.uint32() & mask) >>> 0;
      if (x < n) return x;
    }
  }

  /** Uniform BigInt in [0, n) for n >= 1 (rejection on masked 32-bit words; no modulo bias). */
  uniformBigInt(n: bigint): bigint {
    if (n <= 0n) throw new StatguardError('USAGE', 'uniformBigInt range must be >= 1');
    if (n <= TWO32N) return BigInt(this.uniformInt(Number(n)));
    const bits = bitLength(n - 1n);
    const words = Math.ceil(bits / 32);
    const topBits = bits - 32 * (words - 1);
    const topMask = topBits === 32 ? 0xffffffff : (1 << topBits) - 1;
    for (;;) {
      let r = BigInt((this.uint32() & topMask) >>> 0);
      for (let i = 1; i < words; i++) r = (r << 32n) | BigInt(this.uint32());
      if (r < n) return r;
    }
  }
}

const readers = new WeakMap<RandomSource, RandomReader>();

/** The (cached) reader of a source, so buffered bytes are never lost or reused between calls. */
export function readerFor(source: RandomSource): RandomReader {
  let r = readers.get(source);
  if (r === undefined) {
    r = new RandomReader(source);
    readers.set(source, r);
  }
  return r;
}

/** Uniform integer in [0, n) for BigInt n >= 1, exactly uniform (rejection sampling). */
export function uniformBigInt(rng: RandomSource, n: bigint): bigint {
  return readerFor(rng).uniformBigInt(n);
}

/** The random source of a run: node:crypto, or seeded (tests and demos; marked so in the manifest). */
export function randomSourceFor(seed: string | undefined): RandomSource {
  return seed === undefined ? cryptoRandom() : seededRandom(seed);
}

/**
 * One 32-byte secret of the run. A crypto run draws it straight from node:crypto (not from the pooled noise bytes);
 * a seeded run takes the next 32 bytes of its stream.
 */
export function drawKey(rng: RandomSource): Uint8Array {
  return rng.kind === 'crypto' ? new Uint8Array(randomBytes(32)) : rng.bytes(32);
}
