/**
 * Lend an open store to the store commands (cli/store-commands.ts `lendCommandStore`) for a test: each command would
 * open it again otherwise (about 1 s each). Returns the function that gives it back and closes it; it is idempotent
 * and also registered as the test's teardown. Not a test file.
 */
import type { Store } from '../api/store/db.ts';
import { lendCommandStore } from '../cli/store-commands.ts';

export function lendStore(t: { teardown(fn: () => unknown): void }, store: Store): () => Promise<void> {
  lendCommandStore(store);
  let open = true;
  const giveBack = async (): Promise<void> => {
    lendCommandStore(null);
    if (open) await store.close();
    open = false;
  };
  t.teardown(giveBack);
  return giveBack;
}
