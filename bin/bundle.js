// Whether dist/statguard.mjs may run: it exists and every source file it was built from (dist/statguard.inputs.json,
// written by bin/build.js) still has the size and modification time it had then. Any edit, a missing file or a
// missing list means no: the sources run instead.
import { readFileSync, statSync } from 'node:fs';

/** @param {URL} root the project folder, as a URL ending in '/' */
export function bundleIsCurrent(root) {
  if (process.env.STATGUARD_NO_BUNDLE) return false;
  try {
    const { inputs } = JSON.parse(readFileSync(new URL('dist/statguard.inputs.json', root), 'utf8'));
    statSync(new URL('dist/statguard.mjs', root));
    statSync(new URL('dist/preview-worker.mjs', root));
    return (
      inputs.length > 0 &&
      inputs.every((i) => {
        const st = statSync(new URL(i.file, root));
        return st.size === i.size && st.mtimeMs === i.mtimeMs;
      })
    );
  } catch {
    return false;
  }
}

/**
 * cli/main.ts's `main`: from the bundle while it is current, else from the sources through tsx (registered here).
 * @param {URL} root the project folder, as a URL ending in '/'
 * @returns {Promise<{ main: (argv: string[]) => Promise<number>, bundled: boolean }>}
 */
export async function loadMain(root) {
  if (bundleIsCurrent(root)) {
    const { main } = await import(new URL('dist/statguard.mjs', root).href);
    return { main, bundled: true };
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(new URL('cli/main.ts', root).href);
  return { main, bundled: false };
}
