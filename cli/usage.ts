/**
 * Usage texts of the command line: `USAGE` (every command, printed by
 * `statguard --help` and on a usage error of the engine commands) and
 * `API_USAGE` (the store and API commands), kept apart from the commands so
 * that printing them loads neither the engine nor the store.
 */
import { ENGINE_VERSION } from '../engine/version.ts';

/** The store and API commands (cli/store-commands.ts). */
export const API_USAGE = `Publication store and API:
  statguard publish <release-dir>                     store a release directory as a draft
  statguard approve <release-id>                      publish a draft (checks the dataset's privacy budget)
  statguard withdraw <release-id> --reason <text>     withdraw a published release
  statguard keys create --role <role> --name <name>   create an API key (officer, reviewer, researcher); printed once
  statguard keys list | keys revoke <key-id>
  statguard contracts create --key <key-id> --release <release-id> --expires <date> [--tables a,b]
  statguard datasets create <dataset-id> --title <t> --regime sdc|dp|ckm [--rho <x>] [--epsilon <x>] [--demo]
                                                      register a dataset (before any release of it)
  statguard datasets set-budget <dataset-id> [--rho <x>] [--epsilon <x>]
  statguard signing-keys register [--pem <file> | --local] [--name <name>]
                                                      accept releases signed by this key (--local: this secure zone's)
  statguard signing-keys list | signing-keys revoke <key-id>
  statguard audit verify [--checkpoint <file>]        check the audit log's and the ledger's hash chains (exit 1 at
                                                      the first broken link; with a checkpoint: also a rewrite)
  statguard audit checkpoint [--out <file>]           print or write the chains' verified heads (count and hash)
  statguard db grant <role>                           PostgreSQL server: give an existing role the API's least
                                                      privileges (audit log and ledger: select and insert only)
  statguard serve [--port <n>] [--host <addr>] [--public] [--max-cells <n>] [--public-url <url>]
                  [--on-demand <policy.json>]...      also serve tables on demand under contract from these
                                                      on-demand policies (a secure-zone worker process holds their
                                                      microdata; or STATGUARD_ONDEMAND_POLICIES=a.json,b.json)
Store: PostgreSQL at DATABASE_URL if set (migrated as DATABASE_OWNER_URL when set), else embedded in
STATGUARD_DATA_DIR (default .statguard/db).
`;

/** Every command. */
export const USAGE = `statguard ${ENGINE_VERSION}: privacy-preserving statistics publication

Usage:
  statguard validate <policy.json>
  statguard release <policy.json> --out <dir> [--seed <seed>] [--force] [--reviewer-report <file>] [--against <release-dir>]...
                    [--offline]
  statguard demo [--out <dir>] [--policies <dir>] [--seed <seed>] [--force]
  statguard start [--policies <dir>]
  statguard preview <policy.json> [--compare <other.json>] [--format text|json|html] [--sweep <param>=<v1>,<v2>,...] [--svg <file>]
                    [--seed <seed>] [--store <dir>] [--out <file>]
  statguard lint <policy.json> [--no-data] [--store <dir>] [--format text|json]
  statguard export <release-dir> --format xlsx|parquet --out <path> [--release-id <id>] [--force]

Commands:
  validate   check a policy against the published schema and its semantic rules; lists every problem at once
  release    run a policy on its microdata and write a release directory (manifest.json, <table>.csv, <table>.json)
  demo       release every example policy of a folder (default: policies/) into <dir>/<policy id> (default: out/);
             refuses to replace existing directories without --force
  preview    run a policy without writing or publishing anything and without spending budget: suppression, audit
             intervals, noise and realised error, risk signals, lint findings (secure zone); --compare two policies
             side by side, --sweep a parameter (epsilon, rho, threshold, p, n) and write the chart with --svg
  lint       what a reviewer should look at in a policy, each with its reason and policy path (exit 1 on errors)
  export     a release directory (checked as publish checks it) as an xlsx workbook (--format xlsx: every table a
             sheet, and a Notes sheet with the regime, guarantee, notes and legend) or as Parquet files (--format
             parquet: <out>/<table>.parquet), as the API serves them
  start      the embedded default: release the example policies (once), publish them in the store, serve the API

Options:
  --out <dir>               output directory (must not exist unless --force)
  --seed <seed>             reproducible randomness for tests and demos (seedrandom): the release states no privacy
                            guarantee ("reproducible demo noise; not private"); only a demo dataset accepts it
  --force                   replace an existing output directory (export: an earlier export of the same format)
  --release-id <id>         (export) the release's id in the files (the store's id once published; default: the
                            directory's name)
  --reviewer-report <file>  write the secure-zone reviewer report (audit intervals, budget accounting) to <file>
  --against <release-dir>   (sdc, repeatable) a release already published from the same dataset: its tables join the
                            audit, so the new suppressions also protect against combining the two releases
  --offline                 (sdc) do not read the store: by default an sdc release is audited together with every
                            release of its dataset that is or was published (read from the store: DATABASE_URL, or
                            the embedded store or the server holding it); a correction is audited through its
                            differences. The store refuses to publish an sdc release that was not audited against
                            every published release of its dataset
  --json                    (every command) for scripts: each result as one JSON object per line on stdout, notes
                            on stderr, and a failure as one line {"error": {code, message, exitCode, where, details}}
                            on stderr
  -h, --help                this text (after a command: that command's help)

${API_USAGE}`;
