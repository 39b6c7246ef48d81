/**
 * Spill files of the contribution bounder (bound.ts): rows hash-partitioned by unit into temporary files when more
 * units than its memory budget are buffered, and read back partition by partition in bounded memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const WRITE_BUF = 64 * 1024;

/** FNV-1a over the unit id, salted by the partitioning depth. */
function partitionOf(id: string, salt: number, p: number): number {
  let h = (2166136261 ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % p;
}

/** A set of hash-partition files; records: u32 id length, id (utf8), V x i32 cats, S x f64 measures. */
export class SpillPartitions {
  readonly files: string[];
  private readonly fds: number[];
  private readonly bufs: Buffer[];
  private readonly pos: number[];

  constructor(
    dir: string,
    readonly p: number,
    readonly salt: number,
    private readonly nv: number,
    private readonly ns: number,
  ) {
    this.files = [];
    this.fds = [];
    this.bufs = [];
    this.pos = [];
    for (let i = 0; i < p; i++) {
      const f = path.join(dir, `d${salt}-${process.hrtime.bigint()}-${i}.bin`);
      this.files.push(f);
      this.fds.push(fs.openSync(f, 'w'));
      this.bufs.push(Buffer.allocUnsafe(WRITE_BUF));
      this.pos.push(0);
    }
  }

  write(id: string, cats: ArrayLike<number>, co: number, meas: ArrayLike<number>, mo: number): void {
    const part = partitionOf(id, this.salt, this.p);
    const idLen = Buffer.byteLength(id, 'utf8');
    const need = 4 + idLen + 4 * this.nv + 8 * this.ns;
    let buf = this.bufs[part]!;
    let pos = this.pos[part]!;
    if (pos + need > buf.length) {
      this.flush(part);
      pos = 0;
      if (need > buf.length) {
        buf = Buffer.allocUnsafe(need);
        this.bufs[part] = buf;
      }
    }
    pos = buf.writeUInt32LE(idLen, pos);
    pos += buf.write(id, pos, 'utf8');
    for (let v = 0; v < this.nv; v++) pos = buf.writeInt32LE(cats[co + v]!, pos);
    for (let s = 0; s < this.ns; s++) pos = buf.writeDoubleLE(meas[mo + s]!, pos);
    this.pos[part] = pos;
  }

  private flush(part: number): void {
    const n = this.pos[part]!;
    let off = 0;
    while (off < n) off += fs.writeSync(this.fds[part]!, this.bufs[part]!, off, n - off);
    this.pos[part] = 0;
  }

  close(): void {
    for (let i = 0; i < this.p; i++) {
      if (this.fds[i]! >= 0) {
        this.flush(i);
        fs.closeSync(this.fds[i]!);
        this.fds[i] = -1;
      }
    }
  }

  /** Best-effort close without flushing (error path). */
  abort(): void {
    for (let i = 0; i < this.p; i++) {
      if (this.fds[i]! >= 0) {
        try {
          fs.closeSync(this.fds[i]!);
        } catch {
          /* ignore */
        }
        this.fds[i] = -1;
      }
    }
  }
}

/** Read the records of a partition file in chunks (bounded memory). */
export function* readPartition(file: string, nv: number, ns: number): Generator<[string, Int32Array, Float64Array]> {
  const fd = fs.openSync(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(1 << 20);
    let len = 0;
    let pos = 0;
    let eof = false;
    const ensure = (n: number): boolean => {
      while (len - pos < n && !eof) {
        if (pos > 0) {
          buf.copy(buf, 0, pos, len);
          len -= pos;
          pos = 0;
        }
        if (len + n > buf.length) {
          const b = Buffer.allocUnsafe(Math.max(buf.length * 2, len + n));
          buf.copy(b, 0, 0, len);
          buf = b;
        }
        const r = fs.readSync(fd, buf, len, buf.length - len, null);
        if (r === 0) eof = true;
        else len += r;
      }
      return len - pos >= n;
    };
    for (;;) {
      if (!ensure(4)) break;
      const idLen = buf.readUInt32LE(pos);
      const need = 4 + idLen + 4 * nv + 8 * ns;
      if (!ensure(need)) throw new Error(`spill file ${file} is truncated`);
      pos += 4;
      const id = buf.toString('utf8', pos, pos + idLen);
      pos += idLen;
      const cats = new Int32Array(nv);
      for (let v = 0; v < nv; v++) {
        cats[v] = buf.readInt32LE(pos);
        pos += 4;
      }
      const meas = new Float64Array(ns);
      for (let s = 0; s < ns; s++) {
        meas[s] = buf.readDoubleLE(pos);
        pos += 8;
      }
      yield [id, cats, meas];
    }
  } finally {
    fs.closeSync(fd);
  }
}
