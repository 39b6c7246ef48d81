/** Policy variants of policies/tiny-sdc.json written to a temp folder (source path made absolute). */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../tmp-dir.ts';

export const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
export const TINY = path.join(ROOT, 'policies', 'tiny-sdc.json');

export type Doc = Record<string, any>;

export async function tinyDoc(): Promise<Doc> {
  const doc = JSON.parse(await readFile(TINY, 'utf8')) as Doc;
  doc.dataset.source.path = path.join(ROOT, 'fixtures', 'tiny', 'enterprises.csv');
  delete doc.$schema;
  return doc;
}

/** tiny with a dp protection and only the given tables (count tables of tiny). */
export async function tinyDpDoc(protection: Doc, tables = ['enterprises']): Promise<Doc> {
  const doc = await tinyDoc();
  doc.id = `tiny-dp-${Object.values(protection.budget ?? {}).join('-')}`.replace(/[^a-z0-9-]/g, '-');
  doc.tables = doc.tables.filter((t: Doc) => tables.includes(t.id));
  doc.protection = { regime: 'dp', ...protection };
  return doc;
}

export async function writeDoc(doc: Doc, dir?: string): Promise<string> {
  const d = dir ?? tempDir('sg-preview-');
  const file = path.join(d, `${doc.id}.json`);
  await writeFile(file, JSON.stringify(doc, null, 2));
  return file;
}

/** Hand-computed units of tiny's enterprises table (fixtures/tiny/README.md), by region code then sector code. */
export const TINY_UNITS: Record<string, Record<string, number>> = {
  N: { A: 4, B: 3, C: 2, _T: 8 },
  S: { A: 4, B: 5, C: 4, _T: 13 },
  W: { A: 0, B: 0, C: 0, _T: 0 },
  _T: { A: 8, B: 8, C: 6, _T: 21 },
};
