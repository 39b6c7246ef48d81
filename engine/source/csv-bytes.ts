/**
 * The bytes of a CSV microdata file: as stored, and as text. A gzip file (recognised by its magic bytes 1f 8b, whatever
 * its name: a `.gz` file with another name, or a renamed one, reads the same) is decompressed on the way with node:zlib;
 * the bytes as stored are what the input's fingerprint and the progress count.
 */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** Whether a file starts with gzip's magic bytes (1f 8b). */
export function isGzipFile(file: string): boolean {
  const head = Buffer.alloc(2);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } catch {
    return false; // unreadable: the read below reports it
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The bytes of a CSV file as stored (`raw`) and its text bytes (`text`: the same stream, or its gzip decompression).
 * A broken gzip stream is an error of `text` naming the file as not a valid gzip file.
 */
export function openCsvBytes(file: string): { raw: fs.ReadStream; text: Readable; gzip: boolean } {
  const raw = fs.createReadStream(file);
  if (!isGzipFile(file)) return { raw, text: raw, gzip: false };
  const gunzip = createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return { raw, text: raw.pipe(gunzip), gzip: true };
}
