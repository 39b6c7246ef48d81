/**
 * The draw log: what every real noise draw of a dataset cost, kept in the secure zone so that a draw is charged
 * whether or not its release is ever published (issue 16, "every draw is spent").
 *
 * One append-only file per dataset, `draws/<dataset id>.jsonl` in the secure-zone state directory (owner-only, 0600),
 * one JSON line per draw: time, a random draw id, the policy (id, SHA-256), the regime, what the draw costs
 * (rho and pure-DP epsilon as the budget rule charges them; a ckm draw costs 0 and is counted) and the process id.
 *
 * Guarantees:
 * - Written before the draw: `appendDraw` returns only once its line is on disk (one `write` on a file opened with
 *   O_APPEND, then fsync of the file, and of its folder when the file was new). The pipeline calls it before the
 *   noise is drawn, so a run killed at any later point (tables in memory, half written, or written) has its charge.
 * - Concurrent runs all count, without a lock: each line is one whole `write` in append mode, so lines of racing
 *   processes never interleave and never overwrite each other. The running cumulative spend of a draw is the sum of
 *   the lines up to and including its own (found by its draw id after the append), so two concurrent runs get
 *   different cumulative figures and the later one includes the earlier. Nothing is ever rewritten or removed.
 * - Fail closed: a line that does not parse (a torn write, an edit) stops every later draw of that dataset with
 *   SECURE_STATE naming the file and line, rather than under-counting; so does a file readable by group or others.
 *
 * Only real (crypto) draws of regimes that draw (dp, ckm) are logged; seeded test and demo runs and previews are not.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { StatguardError } from '../errors.ts';
import { checkOwnerOnly, securePath } from './state.ts';

export const DRAW_LOG_VERSION = 1;

/** What one draw costs, as the budget rule charges it (engine/dp/budget.ts); epsilon null: not a pure-DP draw. */
export interface DrawCost {
  readonly rho: number;
  readonly epsilon: number | null;
}

/** One line of a draw log. */
export interface DrawEntry {
  readonly v: typeof DRAW_LOG_VERSION;
  readonly time: string;
  readonly drawId: string;
  readonly dataset: string;
  readonly policy: { readonly id: string; readonly sha256: string };
  readonly regime: string;
  readonly cost: DrawCost;
  readonly pid: number;
}

/** A dataset's cumulative spend up to and including one draw (what a manifest's `spend` states). */
export interface DrawSpend {
  /** Draws logged for the dataset so far, this one included. */
  readonly draws: number;
  /** Cumulative rho of those draws (pure-DP draws count epsilon^2/2). */
  readonly rho: number;
  /** Cumulative pure-DP epsilon of those draws. */
  readonly epsilon: number;
  /** This draw's id in the log. */
  readonly drawId: string;
}

/** The secure-zone file of a dataset's draw log. */
export function drawLogPath(datasetId: string, env: NodeJS.ProcessEnv = process.env): string {
  return securePath(`draws/${datasetId}.jsonl`, env);
}

/**
 * Append one draw to the dataset's log (durably, before returning) and return the dataset's cumulative spend up to and
 * including it.
 */
export function appendDraw(
  datasetId: string,
  draw: { readonly policy: DrawEntry['policy']; readonly regime: string; readonly cost: DrawCost },
  env: NodeJS.ProcessEnv = process.env,
): DrawSpend {
  if (!(Number.isFinite(draw.cost.rho) && draw.cost.rho >= 0))
    throw new StatguardError('SECURE_STATE', `draw cost rho must be a finite number >= 0, got ${draw.cost.rho}`);
  const file = drawLogPath(datasetId, env);
  const entry: DrawEntry = {
    v: DRAW_LOG_VERSION,
    time: new Date().toISOString(),
    drawId: randomBytes(12).toString('hex'),
    dataset: datasetId,
    policy: { id: draw.policy.id, sha256: draw.policy.sha256 },
    regime: draw.regime,
    cost: { rho: draw.cost.rho, epsilon: draw.cost.epsilon },
    pid: process.pid,
  };
  const line = Buffer.from(`${JSON.stringify(entry)}\n`, 'utf8');
  const existed = exists(file);
  const fd = openSync(file, 'a', 0o600); // O_APPEND | O_CREAT: every write lands at the end of the file
  try {
    checkOwnerOnly(file);
    const n = writeSync(fd, line); // one write: a whole line, never interleaved with another process's
    if (n !== line.length)
      throw new StatguardError('SECURE_STATE', `short write to the draw log (${n} of ${line.length} bytes)`, { file });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (!existed) fsyncDir(path.dirname(file));
  const { spend } = readDrawLog(datasetId, env, entry.drawId);
  if (spend === null) throw new StatguardError('SECURE_STATE', `draw ${entry.drawId} missing from its log`, { file });
  return spend;
}

/**
 * A dataset's draw log: its entries and the cumulative spend (of every draw, or up to and including `upTo`).
 * An absent log is empty.
 */
export function readDrawLog(
  datasetId: string,
  env: NodeJS.ProcessEnv = process.env,
  upTo?: string,
): { readonly entries: readonly DrawEntry[]; readonly spend: DrawSpend | null } {
  const file = drawLogPath(datasetId, env);
  if (!exists(file)) return { entries: [], spend: null };
  checkOwnerOnly(file);
  const text = readFileSync(file, 'utf8');
  const entries: DrawEntry[] = [];
  let spend: DrawSpend | null = null;
  let rho = 0;
  let epsilon = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw === '' && i === lines.length - 1) break; // after the final newline
    const e = parseEntry(raw, file, i + 1);
    entries.push(e);
    rho += e.cost.rho;
    epsilon += e.cost.epsilon ?? 0;
    if (upTo === undefined || e.drawId === upTo) spend = { draws: entries.length, rho, epsilon, drawId: e.drawId };
    if (e.drawId === upTo) break;
  }
  return { entries, spend: upTo !== undefined && spend?.drawId !== upTo ? null : spend };
}

function parseEntry(raw: string, file: string, line: number): DrawEntry {
  let e: Partial<DrawEntry> | null = null;
  try {
    e = JSON.parse(raw) as Partial<DrawEntry>;
  } catch {
    e = null;
  }
  const cost = e?.cost;
  const ok =
    e !== null &&
    typeof e === 'object' &&
    e.v === DRAW_LOG_VERSION &&
    typeof e.drawId === 'string' &&
    cost !== undefined &&
    typeof cost.rho === 'number' &&
    Number.isFinite(cost.rho) &&
    cost.rho >= 0 &&
    (cost.epsilon === null || (typeof cost.epsilon === 'number' && Number.isFinite(cost.epsilon) && cost.epsilon >= 0));
  if (!ok)
    throw new StatguardError(
      'SECURE_STATE',
      `the draw log ${file} is damaged at line ${line}; no draw of this dataset is possible until it is repaired ` +
        '(a draw log is append-only: restore it from a backup, never truncate it)',
      { file, line },
    );
  return e as DrawEntry;
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
