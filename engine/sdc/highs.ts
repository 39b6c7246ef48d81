/** The HiGHS solver (WebAssembly), loaded once per process and shared by the audit, the witnesses and the MIP. */

import loadHighsImport from 'highs';
import type { Highs } from 'highs';

export type HighsRuntime = Highs;

// highs ships an ESM build whose default export is the loader, but its typings are
// CommonJS-flavoured (under NodeNext the default import types as the namespace): accept both shapes.
const loadHighs = ((loadHighsImport as unknown as { default?: unknown }).default ??
  loadHighsImport) as () => Promise<Highs>;

let cached: Promise<Highs> | null = null;

/** The HiGHS WebAssembly runtime, loaded once per process (again after `resetHighsRuntime`). */
export function highsRuntime(): Promise<Highs> {
  cached ??= loadHighs();
  return cached;
}

/**
 * Drop the loaded runtime: after a failed call (an Emscripten `Aborted()` leaves the module unusable) the next
 * `highsRuntime()` loads a fresh instance, so the fallback's LPs do not fail in turn.
 */
export function resetHighsRuntime(): void {
  cached = null;
}
