/**
 * Checks the shape of a release's manifest.json: the fields the store and `--against` rely on.
 *
 * Guarantee: a manifest that passes has the current manifest version, a hex SHA-256 policy fingerprint and a policy
 * id usable as a release id, a known audience, randomness source and regime (a dp release states its budget), and a
 * hex SHA-256 input fingerprint and no `internal` part (exact figures never travel in a release directory), and a
 * non-empty list of tables with unique safe ids whose csv and JSON-stat files are plain file names with a hex SHA-256
 * and a byte size; a real (crypto) dp or ckm release states its dataset's cumulative spend from the draw log
 * (`spend`: draws, rho and epsilon as non-negative numbers), which the store charges; an `audit.linked` list, when
 * present, names releases by hex SHA-256 manifest digests. Otherwise a ReleaseInvalid
 * names the JSON path.
 */
import { MANIFEST_VERSION, type Manifest } from './manifest.ts';
import { bad, isObj, obj, SAFE_NAME, str } from './read-check.ts';

/** Checks the manifest's shape (the fields the readers rely on). */
export function checkManifest(m: unknown): Manifest {
  const w = 'manifest.json';
  if (!isObj(m)) bad(w, 'expected a JSON object');
  if (m.manifestVersion !== MANIFEST_VERSION)
    bad(`${w}/manifestVersion`, `expected ${MANIFEST_VERSION}, found ${JSON.stringify(m.manifestVersion)}`);
  const policy = obj(m, 'policy', w);
  str(policy, 'id', `${w}/policy`);
  str(policy, 'version', `${w}/policy`);
  if (!/^[0-9a-f]{64}$/.test(String(policy.sha256))) bad(`${w}/policy/sha256`, 'expected a hex SHA-256');
  if (!SAFE_NAME.test(String(policy.id))) bad(`${w}/policy/id`, 'expected letters, digits, "_", "." or "-"');
  const dataset = obj(m, 'dataset', w);
  str(dataset, 'id', `${w}/dataset`);
  const release = obj(m, 'release', w);
  str(release, 'title', `${w}/release`);
  if (release.audience !== 'public' && release.audience !== 'contract')
    bad(`${w}/release/audience`, 'expected "public" or "contract"');
  if (typeof release.demo !== 'boolean') bad(`${w}/release/demo`, 'expected a boolean');
  if (release.expires !== null && release.expires !== undefined && typeof release.expires !== 'string')
    bad(`${w}/release/expires`, 'expected a date string or null');
  const rnd = obj(m, 'randomness', w);
  if (rnd.source !== 'crypto' && rnd.source !== 'seeded')
    bad(`${w}/randomness/source`, 'expected "crypto" or "seeded"');
  if (m.regime !== 'sdc' && m.regime !== 'dp' && m.regime !== 'ckm')
    bad(`${w}/regime`, 'expected "sdc", "dp" or "ckm"');
  const guarantee = obj(m, 'guarantee', w);
  str(guarantee, 'statement', `${w}/guarantee`);
  if (m.budget !== null && !isObj(m.budget)) bad(`${w}/budget`, 'expected an object or null');
  if (m.regime === 'dp' && !isObj(m.budget)) bad(`${w}/budget`, 'a dp release must state its budget');
  checkSpend(m, w);
  if (!Array.isArray(m.methods)) bad(`${w}/methods`, 'expected an array');
  if (m.internal !== undefined) bad(`${w}/internal`, 'exact internal figures must not be part of a release directory');
  if (!/^[0-9a-f]{64}$/.test(String(obj(m, 'input', w).sha256))) bad(`${w}/input/sha256`, 'expected a hex SHA-256');
  checkLinked(m, w);
  if (!Array.isArray(m.tables) || m.tables.length === 0) bad(`${w}/tables`, 'expected a non-empty array');
  const ids = new Set<string>();
  m.tables.forEach((t: unknown, i: number) => {
    const tw = `${w}/tables/${i}`;
    if (!isObj(t)) bad(tw, 'expected an object');
    const id = str(t, 'id', tw);
    if (!SAFE_NAME.test(id)) bad(`${tw}/id`, `table id ${JSON.stringify(id)} must be letters, digits, "_", "." or "-"`);
    if (ids.has(id)) bad(`${tw}/id`, `table id ${JSON.stringify(id)} appears twice`);
    ids.add(id);
    str(t, 'title', tw);
    if (!Array.isArray(t.dimensions)) bad(`${tw}/dimensions`, 'expected an array');
    if (!Number.isInteger(t.cells) || !Number.isInteger(t.suppressed)) bad(tw, 'cells and suppressed must be integers');
    const files = obj(t, 'files', tw);
    for (const k of ['csv', 'jsonstat', ...(files.noisy !== undefined ? ['noisy' as const] : [])] as const) {
      const f = obj(files, k, `${tw}/files`);
      const p = str(f, 'path', `${tw}/files/${k}`);
      if (!SAFE_NAME.test(p))
        bad(
          `${tw}/files/${k}/path`,
          `file name ${JSON.stringify(p)} must be a plain file name inside the release directory`,
        );
      if (!/^[0-9a-f]{64}$/.test(String(f.sha256))) bad(`${tw}/files/${k}/sha256`, 'expected a hex SHA-256');
      if (!Number.isInteger(f.bytes)) bad(`${tw}/files/${k}/bytes`, 'expected an integer');
    }
  });
  return m as unknown as Manifest;
}

/** A real dp or ckm release states the dataset's cumulative spend (draw log); others state none or a well-formed one. */
function checkSpend(m: Record<string, unknown>, w: string): void {
  const drawn = m.randomness !== null && (m.randomness as { source?: unknown }).source === 'crypto';
  if (m.spend === null || m.spend === undefined) {
    if (drawn && (m.regime === 'dp' || m.regime === 'ckm'))
      bad(`${w}/spend`, `a ${m.regime} release with crypto randomness must state its dataset's cumulative spend`);
    return;
  }
  const spend = obj(m, 'spend', w);
  for (const k of ['draws', 'rho', 'epsilon'] as const) {
    const x = spend[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) bad(`${w}/spend/${k}`, 'expected a finite number >= 0');
  }
}

/** The releases an sdc release was audited against (`audit.linked`), when stated: release names and hex digests. */
function checkLinked(m: Record<string, unknown>, w: string): void {
  if (m.audit === undefined) return;
  const audit = obj(m, 'audit', w);
  if (!Array.isArray(audit.linked)) bad(`${w}/audit/linked`, 'expected an array');
  (audit.linked as unknown[]).forEach((l, i) => {
    const lw = `${w}/audit/linked/${i}`;
    if (!isObj(l)) bad(lw, 'expected an object');
    str(l, 'release', lw);
    if (!/^[0-9a-f]{64}$/.test(String(l.manifestSha256))) bad(`${lw}/manifestSha256`, 'expected a hex SHA-256');
    if (typeof l.corrected !== 'boolean') bad(`${lw}/corrected`, 'expected a boolean');
  });
}
