/**
 * Issue 6.3: crash safety on the PostgreSQL server store.
 *
 * Real `statguard publish <dir>` and `statguard approve <id>` child processes
 * (node bin/statguard.js, DATABASE_URL = a fresh database created for this test)
 * are killed with SIGKILL after a seeded random delay within the command's
 * measured duration. Two lanes run side by side (two policies, one shared
 * dataset and budget); each lane alternates publish and approve trials.
 *
 * After every kill, and again after every recovery, the whole store is checked:
 * - every release is fully present (all its manifest's tables, each with all its
 *   cells, byte-identical to the release directory) or absent;
 * - the budget ledger has exactly one entry per published release, with the
 *   release's cost, and no entry for a draft (no half-published state); a
 *   published release has its approval and audit rows, a draft has neither;
 * - the dataset's spending never exceeds its budget.
 * The next command, re-run without any manual step, recovers: publish of the
 * same directory stores the draft or reports RELEASE_DUPLICATE naming it;
 * approve of the draft publishes it or reports it already published.
 *
 * The killed commands run in child processes started ahead of them (lib/cli-child.js: started like
 * bin/statguard.js, then given the command over IPC): each lane starts its next child while the
 * current trial is checked and recovered, so the children's start-up (tsx, 1-3 s) is off the trials'
 * path. The start-up control kills (counted from the spawn) and the calibration and 1-in-10
 * recovery runs use cold `node bin/statguard.js` children as before.
 *
 * Kill points are stratified, not drawn independently: each command's kills are spread one per equal slice of its
 * measured store window (from its first database session to 20% past its exit), with a seeded random point inside each
 * slice, plus 15% start-up controls; so every part of the window (before the transaction, inside it, after the
 * commit, past the exit) gets its kills in every run, which independent uniform draws only do on average, with 24
 * killed commands (each a process of its own, about 2 s of CPU to start).
 *
 * Duration: 12 rounds per lane of one killed command plus its recovery.
 *
 * Why it holds: storeDraft and approveRelease each run in one transaction
 * (api/store/releases.ts), so a killed client's open transaction is rolled back
 * by the server and a committed one is complete.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import seedrandom from 'seedrandom';
import t from 'tap';
import { openStore } from '../../api/store/db.ts';
import { loadReleaseDir, type LoadedRelease } from '../../api/store/release-dir.ts';
import { main } from '../../cli/main.ts';
import { SERVER_URL, dropServerDatabase } from '../api/dialects.ts';
import { makeRelease, registerFixtures } from '../api/fixtures.ts';

const BIN = fileURLToPath(new URL('../../bin/statguard.js', import.meta.url));
const CHILD = fileURLToPath(new URL('./lib/cli-child.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TRIALS = Number(process.env.STATGUARD_CRASH_TRIALS ?? 24);
const SEED = process.env.STATGUARD_CRASH_SEED ?? 'statguard-crash-6.3';
const RHO = 0.1;
const BIG_SIDE = 100; // table `big`: 101 x 101 = 10,201 cells, plus `pop`.
const CELL_KEYS = ['value', 'conf', 'obs', 'noiseSd', 'halfWidth95'] as const;

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly out: string;
  readonly err: string;
  readonly ms: number;
  /** Run in a child started ahead of the command (`ms` and `connectMs` count from the command, not the spawn). */
  readonly warm?: boolean;
  /** When its first database session was seen (watched runs). */
  readonly connectMs?: number;
  /** Set when the process was killed: what its database sessions were doing just before. */
  readonly atKill?: string;
}

t.test(
  'SIGKILL during publish and approve on the PostgreSQL server store',
  {
    skip: SERVER_URL ? false : 'STATGUARD_TEST_DATABASE_URL not set (start one with `bash .ci/postgres.sh start`)',
    timeout: 420_000,
  },
  async (t) => {
    const name = `sg_crash_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: SERVER_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const u = new URL(SERVER_URL!);
    u.pathname = `/${name}`;
    const url = u.toString();
    // An officer registered the fixtures' signing key and datasets (this also migrates the fresh database).
    {
      const s = await openStore({ databaseUrl: url });
      await registerFixtures(s.db);
      await s.close();
    }
    const check = new pg.Client({ connectionString: url });
    let checkConnected = false;
    const children = new Set<ReturnType<typeof spawn>>();
    const dirs: string[] = []; // temporary folders of the release directories
    t.teardown(async () => {
      for (const c of children) c.kill('SIGKILL');
      for (const d of dirs) await rm(d, { recursive: true, force: true });
      if (checkConnected) await check.end();
      await dropServerDatabase(admin, name);
      await admin.end();
    });

    /**
     * Run the CLI as a child process. With `kill`, SIGKILL it `afterConnectMs` after its first database session
     * appears (polled every 10 ms in pg_stat_activity by application name), or `afterStartMs` after the spawn.
     * `connectMs` reports when the session was first seen. With `warm` (a child from `warmChild`, already started),
     * the command is sent to that process and the times count from the command, not from the spawn.
     */
    const run = (
      args: string[],
      app: string,
      kill?: { afterConnectMs?: number; afterStartMs?: number },
      watch = false,
      warm?: ChildProcess,
    ): Promise<Run> =>
      new Promise((resolve, reject) => {
        const started = performance.now();
        const child =
          warm ??
          spawn(process.execPath, [BIN, ...args], {
            cwd: ROOT,
            env: { ...process.env, DATABASE_URL: url, PGAPPNAME: app, NODE_OPTIONS: '' },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        children.add(child);
        let out = '';
        let err = '';
        let atKill: string | undefined;
        let connectMs: number | undefined;
        let timer: NodeJS.Timeout | undefined;
        const alive = (): boolean => child.exitCode === null && child.signalCode === null;
        const doKill = (): void => {
          if (!alive()) return;
          // What the child's sessions are doing at the kill (descriptive; the probe takes a few ms).
          admin
            .query<{ state: string | null }>('SELECT state FROM pg_stat_activity WHERE application_name = $1', [app])
            .then(
              (r) => {
                if (!alive()) return;
                const states = r.rows.map((x) => x.state ?? '');
                atKill = states.some((s) => s === 'idle in transaction' || s === 'active')
                  ? 'in a transaction or statement'
                  : states.length > 0
                    ? 'connected, idle'
                    : 'not connected';
                child.kill('SIGKILL');
              },
              () => child.kill('SIGKILL'),
            );
        };
        child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          if (timer) clearTimeout(timer);
          children.delete(child);
          resolve({
            code,
            signal,
            out,
            err,
            ms: performance.now() - started,
            ...(warm ? { warm: true } : {}),
            ...(connectMs !== undefined ? { connectMs } : {}),
            ...(atKill !== undefined ? { atKill } : {}),
          });
        });
        if (warm) warm.send({ argv: args, env: { PGAPPNAME: app } });
        if (kill?.afterStartMs !== undefined) timer = setTimeout(doKill, kill.afterStartMs);
        else if (kill?.afterConnectMs !== undefined || watch) {
          const poll = (): void => {
            if (!alive()) return;
            admin.query('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [app]).then(
              (r) => {
                if (!alive()) return;
                if (r.rowCount) {
                  connectMs = performance.now() - started;
                  if (kill?.afterConnectMs !== undefined) timer = setTimeout(doKill, kill.afterConnectMs);
                } else timer = setTimeout(poll, 10);
              },
              () => {
                timer = setTimeout(poll, 10);
              },
            );
          };
          // A cold child spends its first second or more starting up; a warm one connects at once.
          timer = setTimeout(poll, warm ? 0 : 100);
        }
      });

    /**
     * A CLI child process started ahead of its command (lib/cli-child.js: started like bin/statguard.js, then waiting
     * for its arguments over IPC), resolved once it is ready. Each lane starts the child of its next trial while the
     * current trial is checked and recovered, so the 1-3 s of start-up are off the trial's path; the killed command
     * still runs in a process of its own.
     */
    const warmChild = (): Promise<ChildProcess> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [CHILD], {
          cwd: ROOT,
          env: { ...process.env, DATABASE_URL: url, NODE_OPTIONS: '' },
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
        children.add(child);
        let err = '';
        const onErr = (d: Buffer): void => void (err += d.toString());
        child.stderr!.on('data', onErr);
        const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
          children.delete(child);
          reject(new Error(`CLI child exited before it was ready (${code ?? signal}): ${err}`));
        };
        child.once('exit', onExit);
        child.once('error', reject);
        child.once('message', () => {
          child.off('exit', onExit);
          child.stderr!.off('data', onErr);
          resolve(child);
        });
      });

    // Expected content of every release directory, by manifest SHA-256.
    const expected = new Map<string, LoadedRelease>();
    const verified = new Set<string>(); // release ids whose cells were compared in full
    let checks = 0;
    let checkMs = 0;
    let recoverMs = 0;

    /**
     * The whole-store invariants; returns the problems found (empty = consistent). Structure, ledger and audit are
     * checked for every release each time; cells are compared in full with the release directory the first time a
     * release is seen (and for all releases with `full`): stored cells never change afterwards (a trigger forbids it).
     */
    const invariants = async (full = false): Promise<string[]> => {
      const t0 = performance.now();
      checks++;
      const problems: string[] = [];
      const rows = (
        await check.query<{
          id: string;
          status: string;
          rho: number;
          manifest_sha256: string;
          approved: boolean;
          mtables: number;
          ntables: number;
          ledger: number;
          ledger_rho: number | null;
          audit_pub: number;
          audit_appr: number;
        }>(`SELECT r.id, r.status, r.rho, r.manifest_sha256, r.approved_at IS NOT NULL AS approved,
              jsonb_array_length(r.manifest->'tables') AS mtables,
              (SELECT count(*) FROM release_tables rt WHERE rt.release_id = r.id)::int AS ntables,
              (SELECT count(*) FROM budget_ledger l WHERE l.release_id = r.id)::int AS ledger,
              (SELECT max(l.rho) FROM budget_ledger l WHERE l.release_id = r.id) AS ledger_rho,
              (SELECT count(*) FROM audit_log a WHERE a.target = r.id AND a.action = 'release.publish')::int AS audit_pub,
              (SELECT count(*) FROM audit_log a WHERE a.target = r.id AND a.action = 'release.approve')::int AS audit_appr
         FROM releases r ORDER BY r.id`)
      ).rows;
      for (const r of rows) {
        if (r.ntables !== r.mtables)
          problems.push(`${r.id}: ${r.ntables} of ${r.mtables} tables stored (partial release)`);
        if (r.audit_pub !== 1)
          problems.push(`${r.id}: ${r.audit_pub} publish audit rows (expected 1, written in the same transaction)`);
        if (r.status === 'published') {
          if (r.ledger !== 1 || r.ledger_rho !== r.rho)
            problems.push(`${r.id}: published with ${r.ledger} ledger entries (rho ${r.ledger_rho}, cost ${r.rho})`);
          if (!r.approved || r.audit_appr !== 1)
            problems.push(`${r.id}: published without approval fields or audit row`);
        } else if (r.status === 'draft') {
          if (r.ledger !== 0) problems.push(`${r.id}: draft with a ledger entry (half-published)`);
          if (r.approved || r.audit_appr !== 0)
            problems.push(`${r.id}: draft with approval fields or an approval audit row`);
        } else problems.push(`${r.id}: unexpected status ${r.status}`);
        if (verified.has(r.id) && !full) continue;
        const exp = expected.get(r.manifest_sha256);
        if (!exp) {
          problems.push(`${r.id}: stored release matches no release directory of this test`);
          continue;
        }
        const tables = (
          await check.query<{ table_id: string; cell_count: number; cells: Record<string, unknown> }>(
            'SELECT table_id, cell_count, cells FROM release_tables WHERE release_id = $1 ORDER BY position',
            [r.id],
          )
        ).rows;
        const same =
          tables.length === exp.tables.length &&
          exp.tables.every(
            (et, i) =>
              tables[i]!.table_id === et.id &&
              tables[i]!.cell_count === et.cellCount &&
              CELL_KEYS.every(
                (k) => JSON.stringify(tables[i]!.cells[k] ?? null) === JSON.stringify(et.cells[k] ?? null),
              ),
          );
        if (!same)
          problems.push(
            `${r.id}: stored tables or cells differ from the release directory (partial or altered release)`,
          );
        verified.add(r.id);
      }
      const orphans = await check.query(
        `SELECT l.release_id FROM budget_ledger l JOIN releases r ON r.id = l.release_id WHERE r.status <> 'published'`,
      );
      if (orphans.rowCount)
        problems.push(`ledger entries for unpublished releases: ${orphans.rows.map((x) => x.release_id).join(', ')}`);
      const spent = await check.query<{ id: string; total_rho: number; spent: number }>(
        `SELECT d.id, d.total_rho, coalesce((SELECT sum(rho) FROM budget_ledger l WHERE l.dataset_id = d.id), 0)::float8 AS spent FROM datasets d`,
      );
      for (const d of spent.rows)
        if (d.spent > d.total_rho + 1e-9)
          problems.push(`dataset ${d.id}: spent rho ${d.spent} > budget ${d.total_rho}`);
      checkMs += performance.now() - t0;
      return problems;
    };

    const newDir = async (policyId: string, k: number): Promise<{ dir: string; sha: string }> => {
      const { dir } = await makeRelease({
        policyId,
        datasetId: 'census',
        rho: RHO,
        bigSide: BIG_SIDE,
        createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, k)).toISOString(),
      });
      dirs.push(path.dirname(dir));
      const rel = await loadReleaseDir(dir);
      expected.set(rel.manifestSha256, rel);
      return { dir, sha: rel.manifestSha256 };
    };

    const cleanError = (r: Run, cmd: string): boolean =>
      new RegExp(`^statguard ${cmd}: [A-Z_]+: `).test(r.err) && !/\n\s+at /.test(r.err);

    // Recovery runs the same CLI command to completion: in this process through the CLI's own entry (main) for speed,
    // and as a fresh child process for 1 trial in 10.
    const savedUrl = process.env.DATABASE_URL;
    process.env.DATABASE_URL = url;
    t.teardown(() => {
      if (savedUrl === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = savedUrl;
    });
    const recover = async (args: string[], app: string, spawned: boolean): Promise<Run> => {
      const t0 = performance.now();
      try {
        return await recover1(args, app, spawned);
      } finally {
        recoverMs += performance.now() - t0;
      }
    };
    const recover1 = async (args: string[], app: string, spawned: boolean): Promise<Run> => {
      if (spawned) return run(args, app, undefined, true);
      let out = '';
      let err = '';
      const started = performance.now();
      const code = await main(args, { out: (s) => void (out += s), err: (s) => void (err += s), isTty: false });
      return { code, signal: null, out, err, ms: performance.now() - started };
    };

    // Calibration: uncut publish and approve, watching when each one
    // connects (the publish also migrates the fresh database, so its window is a little wider than later ones):
    // the store work happens in the window between that and its exit (start-up before it is ~1-3 s of tsx).
    const cal = await newDir('crash-cal', 0);
    const calPub = await run(['publish', cal.dir], 'sgcrash-cal-pub', undefined, true);
    t.equal(calPub.code, 0, `calibration publish: ${calPub.err}`);
    const calId = /draft (\S+) stored/.exec(calPub.out)?.[1] ?? '';
    const calApp = await run(['approve', calId], 'sgcrash-cal-app', undefined, true);
    t.equal(calApp.code, 0, `calibration approve: ${calApp.err}`);
    await check.connect();
    checkConnected = true;
    // The store window (first session to exit) is re-measured on every uncut watched run (calibration, spawned
    // recoveries, runs that finished before their kill): machine load changes it several-fold. The whole duration
    // from the spawn (for the start-up control) only on cold runs: a warm child's start-up came before its command.
    const samples = { publish: [] as number[], approve: [] as number[] };
    const totals = { publish: [calPub.ms], approve: [calApp.ms] };
    const sample = (cmd: 'publish' | 'approve', r: Run): void => {
      if (r.signal === null && r.connectMs !== undefined) samples[cmd].push(Math.max(30, r.ms - r.connectMs));
      if (r.signal === null && !r.warm) totals[cmd].push(r.ms);
    };
    sample('publish', calPub);
    sample('approve', calApp);
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 300;
    const cmdDur = {
      publish: {
        get total() {
          return median(totals.publish);
        },
        get window() {
          return median(samples.publish.slice(-7));
        },
      },
      approve: {
        get total() {
          return median(totals.approve);
        },
        get window() {
          return median(samples.approve.slice(-7));
        },
      },
    };
    t.same(await invariants(), [], 'store consistent after calibration');

    const rng = seedrandom(SEED);
    // Each command's kill points, dealt in a seeded random order: 15% (at least one) start-up controls, uniform over the
    // whole measured duration from the spawn (mostly start-up: trivially safe, kept as a control); the rest one per
    // equal slice of the measured store window (from the first session to exit, +20%), at a uniform point inside its
    // slice: so every part of the window gets a kill. The window is measured again as the trials go (machine load
    // changes it several-fold), so a point is a fraction of the window, turned into milliseconds at the kill.
    type Point = { readonly control: boolean; readonly at: number };
    const deck = (kills: number): Point[] => {
      const controls = Math.max(1, Math.round(kills * 0.15));
      const slices = kills - controls;
      const points: Point[] = [
        ...Array.from({ length: controls }, () => ({ control: true, at: rng() })),
        ...Array.from({ length: slices }, (_, j) => ({ control: false, at: ((j + rng()) / slices) * 1.2 })),
      ];
      for (let i = points.length - 1; i > 0; i--) {
        const j = Math.floor(rng() * (i + 1));
        [points[i], points[j]] = [points[j]!, points[i]!];
      }
      return points;
    };
    // Each lane alternates publish and approve, starting with publish.
    const perLane = [Math.ceil(TRIALS / 2), Math.floor(TRIALS / 2)];
    const decks = {
      publish: deck(perLane.reduce((n, k) => n + Math.ceil(k / 2), 0)),
      approve: deck(perLane.reduce((n, k) => n + Math.floor(k / 2), 0)),
    };
    const killPlan = (cmd: 'publish' | 'approve'): { afterConnectMs?: number; afterStartMs?: number } => {
      const p = decks[cmd].pop() ?? { control: false, at: rng() * 1.2 };
      return p.control ? { afterStartMs: p.at * cmdDur[cmd].total } : { afterConnectMs: p.at * cmdDur[cmd].window };
    };
    // One trial in 10 recovers in a fresh child process (lane a: publishes, lane b: approves).
    const respawnAt = { a: 8, b: 9 } as Record<string, number>;

    const tally = { publish: new Map<string, number>(), approve: new Map<string, number>() };
    const atKill = new Map<string, number>();
    const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
    let failures = 0;
    const fail = (msg: string): void => {
      failures++;
      t.fail(msg);
    };

    const respawn = (laneName: string, i: number): boolean => i % 10 === respawnAt[laneName];
    const lane = async (laneName: string, trials: number): Promise<void> => {
      let k = 0;
      let draft: string | null = null; // a stored draft of this lane awaiting approval
      let spare: Promise<ChildProcess> | null = null; // the child of this lane's next kill, started ahead
      const killedRun = async (
        args: string[],
        app: string,
        plan: { afterConnectMs?: number; afterStartMs?: number },
      ): Promise<Run> => {
        // The start-up control (killed `afterStartMs` after the spawn) needs a cold child; the other kills count from
        // the command's first session, so they use the warm child (start-up already paid).
        if (plan.afterStartMs !== undefined) return run(args, app, plan);
        const warm = await (spare ?? warmChild());
        spare = null;
        return run(args, app, plan, false, warm);
      };
      const prepareNext = (): void => {
        if (spare !== null || i + 1 >= trials) return;
        spare = warmChild();
        spare.catch(() => {}); // awaited (and reported) by the kill that uses it
      };
      let i = 0;
      for (; i < trials; i++) {
        const trial = `${laneName}${i}`;
        if (draft === null) {
          const { dir } = await newDir(`crash-${laneName}`, ++k);
          const killed = await killedRun(['publish', dir], `sgcrash-${trial}`, killPlan('publish'));
          prepareNext();
          sample('publish', killed);
          if (killed.atKill) bump(atKill, killed.atKill);
          const after = await invariants();
          if (after.length > 0)
            fail(`trial ${trial} (publish killed at ${killed.ms.toFixed(0)} ms): ${after.join('; ')}`);
          // Recovery: the same command again, no manual step.
          const again = await recover(['publish', dir], `sgcrash-${trial}-r`, respawn(laneName, i));
          if (respawn(laneName, i)) sample('publish', again);
          let id: string | undefined;
          if (again.code === 0) {
            id = /draft (\S+) stored/.exec(again.out)?.[1];
            bump(
              tally.publish,
              killed.signal === 'SIGKILL' ? 'killed, absent: re-publish stored it' : 'finished before the kill',
            );
          } else if (again.code === 1 && cleanError(again, 'publish') && /RELEASE_DUPLICATE/.test(again.err)) {
            id = /already stored as (\S+)/.exec(again.err)?.[1];
            bump(
              tally.publish,
              killed.signal === 'SIGKILL'
                ? 'killed after commit: re-publish reports RELEASE_DUPLICATE'
                : 'finished before the kill',
            );
          }
          if (id === undefined) {
            fail(`trial ${trial}: re-publish did not recover (exit ${again.code}): ${again.out}${again.err}`);
            continue;
          }
          const st = await check.query<{ status: string }>('SELECT status FROM releases WHERE id = $1', [id]);
          if (st.rows[0]?.status !== 'draft')
            fail(`trial ${trial}: recovered release ${id} is ${st.rows[0]?.status ?? 'absent'}, expected draft`);
          draft = id;
        } else {
          const id: string = draft;
          const killed = await killedRun(['approve', id], `sgcrash-${trial}`, killPlan('approve'));
          prepareNext();
          sample('approve', killed);
          if (killed.atKill) bump(atKill, killed.atKill);
          const after = await invariants();
          if (after.length > 0)
            fail(`trial ${trial} (approve killed at ${killed.ms.toFixed(0)} ms): ${after.join('; ')}`);
          const again = await recover(['approve', id], `sgcrash-${trial}-r`, respawn(laneName, i));
          if (respawn(laneName, i)) sample('approve', again);
          if (again.code === 0 && /published/.test(again.out)) {
            bump(
              tally.approve,
              killed.signal === 'SIGKILL'
                ? 'killed, still a draft: re-approve published it'
                : 'finished before the kill',
            );
          } else if (
            again.code === 1 &&
            cleanError(again, 'approve') &&
            /INVALID_STATE.*is published/.test(again.err)
          ) {
            bump(
              tally.approve,
              killed.signal === 'SIGKILL'
                ? 'killed after commit: re-approve reports INVALID_STATE (published)'
                : 'finished before the kill',
            );
          } else {
            fail(`trial ${trial}: re-approve did not recover (exit ${again.code}): ${again.out}${again.err}`);
          }
          const st = await check.query<{ status: string }>('SELECT status FROM releases WHERE id = $1', [id]);
          if (st.rows[0]?.status !== 'published')
            fail(`trial ${trial}: ${id} is ${st.rows[0]?.status ?? 'absent'} after re-approve`);
          draft = null;
        }
        const recovered = await invariants();
        if (recovered.length > 0) fail(`trial ${trial} after recovery: ${recovered.join('; ')}`);
      }
      // A child left unused (the last trials were start-up controls): it never ran a command.
      const left = await (spare as Promise<ChildProcess> | null)?.catch(() => null);
      left?.kill('SIGKILL');
    };

    const started = performance.now();
    await Promise.all([lane('a', perLane[0]!), lane('b', perLane[1]!)]);
    const secs = (performance.now() - started) / 1000;

    const final = await invariants(true);
    t.same(final, [], 'store consistent at the end');
    const counts = (
      await check.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM releases GROUP BY status ORDER BY status',
      )
    ).rows;
    const ledger = (
      await check.query<{ n: number; rho: number }>(
        'SELECT count(*)::int AS n, coalesce(sum(rho), 0)::float8 AS rho FROM budget_ledger',
      )
    ).rows[0]!;
    const published = counts.find((c) => c.status === 'published')?.n ?? 0;
    t.equal(ledger.n, published, `ledger entries (${ledger.n}) = published releases (${published})`);
    const killedCount = [...tally.publish, ...tally.approve]
      .filter(([k]) => k.startsWith('killed'))
      .reduce((n, [, v]) => n + v, 0);
    t.ok(killedCount >= TRIALS * 0.5, `most trials were really killed mid-command (${killedCount} of ${TRIALS})`);
    t.ok(
      (atKill.get('in a transaction or statement') ?? 0) > 0 || TRIALS < 20,
      `kills landed inside store transactions (${atKill.get('in a transaction or statement') ?? 0})`,
    );
    t.ok(
      [...tally.publish.keys()].some((k) => k.startsWith('killed after')) ||
        [...tally.approve.keys()].some((k) => k.startsWith('killed after')) ||
        TRIALS < 20,
      'some kills landed after the commit (the window covers the whole command)',
    );
    t.equal(failures, 0, 'no trial left an inconsistent store or needed a manual step');

    const fmt = (m: Map<string, number>): string => [...m].map(([k, v]) => `${v} ${k}`).join(', ');
    console.log(
      `# crash safety: ${TRIALS} SIGKILL trials (seed ${JSON.stringify(SEED)}) in ${secs.toFixed(1)} s, 2 at a time; ` +
        `median measured publish ${cmdDur.publish.total.toFixed(0)} ms (store window ${median(samples.publish).toFixed(0)} ms), approve ${cmdDur.approve.total.toFixed(0)} ms (window ${median(samples.approve).toFixed(0)} ms); ${checks} whole-store checks (${(checkMs / 1000).toFixed(1)} s), recoveries ${(recoverMs / 1000).toFixed(1)} s; ${failures} inconsistent`,
    );
    console.log(`#   publish: ${fmt(tally.publish)}`);
    console.log(`#   approve: ${fmt(tally.approve)}`);
    console.log(`#   child's database sessions at the kill: ${fmt(atKill)}`);
    console.log(
      `#   end state: ${counts.map((c) => `${c.n} ${c.status}`).join(', ')}; ledger ${ledger.n} entries, rho ${ledger.rho.toFixed(2)} = published x ${RHO}`,
    );
  },
);
