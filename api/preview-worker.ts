/**
 * Entry of a preview worker thread (started by preview-pool.ts through a small bootstrap that registers tsx): answers
 * each job message with one outcome message. An unexpected error is answered as INTERNAL; its message goes to the
 * server log only (`log`), never to the caller.
 */
import { parentPort } from 'node:worker_threads';
import { runPreviewJob, type PreviewJob, type PreviewOutcome } from './preview-job.ts';

parentPort!.on('message', (job: PreviewJob) => {
  void runPreviewJob(job)
    .catch((e: unknown): PreviewOutcome => {
      const log = e instanceof Error ? (e.stack ?? e.message) : String(e);
      return { ok: false, code: 'INTERNAL', detail: 'internal error', extra: {}, log };
    })
    .then((outcome) => parentPort!.postMessage(outcome));
});
