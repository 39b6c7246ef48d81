/** Usage text of the store and API commands (kept apart so the CLI can print it without loading them). */
export const API_USAGE = `Publication store and API:
  statguard publish <release-dir>                     store a release directory as a draft
  statguard approve <release-id>                      publish a draft (checks the dataset's privacy budget)
  statguard withdraw <release-id> --reason <text>     withdraw a published release
  statguard keys create --role <role> --name <name>   create an API key (officer, reviewer, researcher); printed once
  statguard keys list | keys revoke <key-id>
  statguard contracts create --key <key-id> --release <release-id> --expires <date> [--tables a,b]
  statguard datasets set-budget <dataset-id> [--rho <x>] [--epsilon <x>]
  statguard serve [--port <n>] [--host <addr>] [--public] [--max-cells <n>]
Store: PostgreSQL at DATABASE_URL if set, else embedded in STATGUARD_DATA_DIR (default .statguard/db).
`;
