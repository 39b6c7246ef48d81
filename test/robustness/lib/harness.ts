/** Shared helpers of the robustness tests (not a test file). */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { main, type Io } from '../../../cli/main.ts';
import { tempDir } from '../../tmp-dir.ts';

export async function tmp(prefix = 'sg-rob-'): Promise<string> {
  return tempDir(prefix);
}

/** Run the CLI in this process with captured stdout/stderr and environment overrides. */
export async function cli(
  argv: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => void (out += s), err: (s) => void (err += s), isTty: false };
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    const code = await main(argv, io);
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Snapshot of a directory tree: relative path -> size and content hash-ish (content itself; small trees only). */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = path.join(d, n);
      const s = await stat(p);
      if (s.isDirectory()) await walk(p);
      else out.set(path.relative(dir, p), s.size < 1_000_000 ? await readFile(p, 'utf8') : `size:${s.size}`);
    }
  };
  await walk(dir);
  return out;
}

/** Every number written in a text (JSON, CSV, log line), as numbers. */
export function numbersIn(text: string): Set<number> {
  const out = new Set<number>();
  for (const m of text.matchAll(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g)) out.add(Number(m[0]));
  return out;
}

/** A value is distinctive when its shortest decimal form has at least 4 significant digits (small numbers coincide everywhere). */
export function distinctive(v: number): boolean {
  if (!Number.isFinite(v)) return false;
  const digits = String(Math.abs(v)).replace(/e.*$/, '').replace('.', '').replace(/^0+/, '');
  return digits.length >= 4;
}

/**
 * Identifiers are not numbers: digests and key ids (hex runs) and temporary paths hold digit runs by chance (a SHA-256
 * holds a given 4-digit run about once in a thousand), which would read as a leak.
 */
export const scrubIds = (s: string): string => s.replace(/\b[0-9a-f]{12,}\b/gi, '#').replace(/\/tmp\/[^\s'"),]+/g, '#');

/** The numbers of each text (identifiers scrubbed), read once for every secret searched in them. */
export interface ScannedText {
  readonly where: string;
  readonly numbers: ReadonlySet<number>;
}

export function scanTexts(texts: readonly { readonly where: string; readonly text: string }[]): ScannedText[] {
  return texts.map((x) => ({ where: x.where, numbers: numbersIn(scrubIds(x.text)) }));
}

/**
 * Search scanned texts for secret numbers (value -> what it is). Only distinctive secrets that no public number
 * equals are searched (`legit`: published cell values and the like; such a number in an output proves nothing).
 * Returns the counts and one line per leak found.
 */
export function findLeaks(
  secrets: ReadonlyMap<number, string>,
  legit: ReadonlySet<number>,
  scanned: readonly ScannedText[],
): { searched: number; skipped: number; leaks: string[] } {
  let searched = 0;
  let skipped = 0;
  const leaks: string[] = [];
  for (const [v, what] of secrets) {
    if (!distinctive(v) || legit.has(v)) {
      skipped++;
      continue;
    }
    searched++;
    for (const x of scanned) if (x.numbers.has(v)) leaks.push(`${what}: exact value ${v} appears in ${x.where}`);
  }
  return { searched, skipped, leaks };
}
