/**
 * Read a policy file, hash its bytes, validate it (all problems at once) and
 * plan it. The SHA-256 of the exact bytes read is recorded in the Plan, so a
 * manifest names precisely the policy a release ran under.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StatguardError } from '../errors.ts';
import type { Plan } from '../types.ts';
import { planPolicy } from './plan.ts';
import { validatePolicy } from './validate.ts';

export { policySchema } from './schema.ts';

export async function loadPolicy(path: string): Promise<Plan> {
  const file = resolve(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'is a directory'
            : (err as Error).message;
    throw new StatguardError('POLICY_UNREADABLE', `cannot read policy ${path}: ${why}`, { file: path });
  }
  return planPolicyBytes(bytes, path, file);
}

/**
 * Validate and plan a policy given as bytes (the store plans the signed policy.json of a release this way): `name`
 * appears in errors, `file` is where relative source paths resolve from.
 */
export function planPolicyBytes(bytes: Uint8Array, name: string, file: string = resolve(name)): Plan {
  const path = name;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const text = Buffer.from(bytes)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const pos = jsonErrorPosition(text, (err as Error).message);
    throw new StatguardError(
      'POLICY_UNREADABLE',
      `policy ${path} is not valid JSON: ${(err as Error).message}${pos ? ` (line ${pos.line}, column ${pos.column})` : ''}`,
      { file: path, ...(pos ? { line: pos.line } : {}) },
    );
  }
  const v = validatePolicy(json);
  if (!v.ok) {
    const n = v.errors.length;
    const message = `policy ${path} has ${n} problem${n === 1 ? '' : 's'}${v.refused ? '; refused: a differential-privacy release never bases a decision on exact values' : ''}`;
    throw new StatguardError(
      v.refused ? 'POLICY_REFUSED' : 'POLICY_INVALID',
      message,
      { file: path },
      v.errors.map((e) => ({ file: path, path: e.path, message: e.message })),
    );
  }
  return planPolicy(v.policy, { policyPath: file, policySha256: sha256 });
}

/** Line and column (1-based) of a JSON.parse error, from the "position N" or "line L column C" in V8's message. */
export function jsonErrorPosition(text: string, message: string): { line: number; column: number } | null {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const m = /position (\d+)/.exec(message);
  let pos: number;
  if (m) pos = Number(m[1]);
  else if (/Unexpected end of JSON input/.test(message)) pos = text.length;
  else return null;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return { line, column };
}
