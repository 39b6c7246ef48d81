/**
 * A statguard CLI process started ahead of its command (crash test helper, not a test file).
 *
 * It starts like bin/statguard.js (tsx registered, cli/main.ts imported) and also loads the store commands' modules,
 * then reports `ready` over its IPC channel and waits for one message `{ argv, env }`: it sets `env` (PGAPPNAME) in
 * its environment, drops the channel and runs `main(argv)` with the process's own stdout and stderr, exiting with
 * its code, as bin/statguard.js does. So the command runs in a real, separate process that can be killed with
 * SIGKILL at any point of the command, while its start-up (1-3 s of tsx and module loading) is paid before the trial.
 */
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../../../cli/main.ts');
// The module graph of `publish` and `approve` (main imports it lazily): loaded now, not inside the measured command.
await import('../../../cli/store-commands.ts');
process.once('message', async (/** @type {{ argv: string[], env: Record<string, string> }} */ msg) => {
  Object.assign(process.env, msg.env);
  process.disconnect();
  process.exitCode = await main(msg.argv);
});
process.send?.('ready');
