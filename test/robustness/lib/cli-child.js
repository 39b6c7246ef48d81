/**
 * A statguard CLI process started ahead of its command (crash test helper, not a test file).
 *
 * It starts as bin/statguard.js does (the bundle dist/statguard.mjs while it is current, else cli/main.ts through
 * tsx, then the store commands' modules too), reports `ready` over its IPC channel and waits for one message
 * `{ argv, env }`: it sets `env` (PGAPPNAME) in its environment, drops the channel and runs `main(argv)` with the
 * process's own stdout and stderr, exiting with its code, as bin/statguard.js does. So the command runs in a real,
 * separate process that can be killed with SIGKILL at any point of the command, while its start-up is paid before
 * the trial. (Through tsx the start-up cost about 1.5 CPU-s more per child: npm test builds the bundle first.)
 */
import { loadMain } from '../../../bin/bundle.js';

const { main, bundled } = await loadMain(new URL('../../../', import.meta.url));
// The module graph of `publish` and `approve` (main imports it lazily from the sources): loaded now, not inside the
// measured command (the bundle holds it already).
if (!bundled) await import('../../../cli/store-commands.ts');
process.once('message', async (/** @type {{ argv: string[], env: Record<string, string> }} */ msg) => {
  Object.assign(process.env, msg.env);
  process.disconnect();
  process.exitCode = await main(msg.argv);
});
process.send?.('ready');
