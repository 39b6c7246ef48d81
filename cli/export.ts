/**
 * `statguard export <release-dir> --format xlsx|parquet --out <path> [--release-id <id>] [--force]`: a release
 * directory, checked by the strict reader (engine/release/read.ts), as an xlsx workbook (every table a sheet, and a
 * Notes sheet) or as Parquet files (`<out>/<table>.parquet`), as the API serves them (engine/release/export.ts).
 * `--release-id` names the release in the files (the store's id once it is published); default: the directory's name.
 */
import path from 'node:path';
import { parse, result, UsageError, type Io } from './io.ts';

const FORMATS = ['xlsx', 'parquet'] as const;

export async function cmdExport(args: readonly string[], io: Io): Promise<number> {
  const { positionals, values } = parse(args, {
    format: { type: 'string' },
    out: { type: 'string' },
    'release-id': { type: 'string' },
    force: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError('export takes exactly one release directory');
  const format = values.format;
  if (!FORMATS.includes(format as (typeof FORMATS)[number]))
    throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
  if (typeof values.out !== 'string' || values.out === '') throw new UsageError('export needs --out <path>');
  if (values['release-id'] === '') throw new UsageError('--release-id needs a value');
  const dir = positionals[0]!;
  const releaseId = (values['release-id'] as string | undefined) ?? path.basename(path.resolve(dir));
  const [{ readReleaseDir }, { renderExport, writeExport }] = await Promise.all([
    import('../engine/release/read.ts'),
    import('../engine/release/export.ts'),
  ]);
  const release = await readReleaseDir(dir);
  const fmt = format as (typeof FORMATS)[number];
  const files = await renderExport(release, fmt, releaseId);
  const written = await writeExport(files, fmt, values.out, values.force === true);
  const cells = release.tables.reduce((n, t) => n + t.cellCount, 0);
  result(
    io,
    { release: releaseId, format: fmt, files: written, tables: release.tables.length, cells },
    `${release.tables.length} table(s), ${cells} cells of ${dir} as ${fmt}:\n${written.map((f) => `  ${f}\n`).join('')}`,
  );
  return 0;
}
