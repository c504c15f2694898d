/**
 * Group commit for decision entries (issue 5, "concurrent decisions are grouped into one commit").
 * An entry waits in a queue until the next turn of the event loop; then everything queued is
 * written by one `appendBatch`: one transaction, one fsync (synchronous=FULL), one signed
 * checkpoint. Entries that arrive while a commit runs go into the next one. A caller's promise
 * settles only after the transaction holding its entry has committed; if that transaction fails,
 * every caller in it gets the error (AUDIT_UNAVAILABLE: answer 503, never allow).
 */
import type { AppendInput, AppendResult, AuditStore } from '../audit/index.ts';
import { isCountersignError } from '../errors.ts';

/** Enough to amortise the fsync; small enough that one commit stays short. */
export const DEFAULT_MAX_BATCH = 256;
/** The longest an entry waits for others to join its commit. */
export const DEFAULT_MAX_WAIT_MS = 2;

export interface GroupCommitOptions {
  readonly maxBatch?: number;
  /**
   * How many entries are still on their way (requests being verified that will append). While
   * some are, a commit waits for them, at most maxWaitMs, so that one fsync serves them all;
   * when none are (a lone request), it commits at once. Default: none are ever on their way.
   */
  readonly onTheirWay?: () => number;
  readonly maxWaitMs?: number;
  /** After each commit attempt: entries in it, whether it committed, seconds it took. */
  readonly onCommit?: (entries: number, ok: boolean, seconds: number) => void;
}

export interface GroupCommitter {
  /** Resolves once the entry is durably committed; rejects when its batch could not be. */
  append(input: AppendInput): Promise<AppendResult>;
  /** Entries waiting for a commit. */
  pending(): number;
  /** Commits everything waiting now (before the database is closed). */
  flush(): void;
  /** Says that an entry on its way will not come (its request failed): maybe commit now. */
  nudge(): void;
}

interface Waiting {
  readonly input: AppendInput;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

export function createGroupCommitter(
  store: Pick<AuditStore, 'appendBatch'>,
  options: GroupCommitOptions = {},
): GroupCommitter {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const onTheirWay = options.onTheirWay ?? (() => 0);
  let queue: Waiting[] = [];
  let scheduled = false;
  let timer: NodeJS.Timeout | undefined;

  function commit(batch: readonly Waiting[]): void {
    const started = performance.now();
    let results: AppendResult[];
    try {
      results = store.appendBatch(batch.map((w) => w.input));
    } catch (e: unknown) {
      options.onCommit?.(batch.length, false, (performance.now() - started) / 1000);
      // An invalid input refuses its whole batch before anything is written: commit the others
      // without it, so one bad entry cannot take its neighbours down.
      if (batch.length > 1 && isCountersignError(e) && e.code === 'REQUEST_INVALID') {
        for (const w of batch) commit([w]);
        return;
      }
      for (const w of batch) w.reject(e);
      return;
    }
    options.onCommit?.(batch.length, true, (performance.now() - started) / 1000);
    batch.forEach((w, i) => {
      const r = results[i];
      if (r === undefined) w.reject(new Error('appendBatch returned fewer results than entries'));
      else w.resolve(r);
    });
  }

  function flush(): void {
    scheduled = false;
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    while (queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      commit(batch);
    }
  }

  /** Commit now if nobody else is coming or the batch is full; else at the latest after maxWaitMs. */
  function schedule(): void {
    if (queue.length === 0 || scheduled) return;
    if (onTheirWay() === 0 || queue.length >= maxBatch) {
      scheduled = true;
      // After this turn's I/O callbacks: every request that reached this point meanwhile
      // joins the same transaction.
      setImmediate(flush);
    } else {
      timer ??= setTimeout(flush, maxWaitMs);
    }
  }

  return {
    append(input) {
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ input, resolve, reject });
        schedule();
      });
    },
    pending: () => queue.length,
    flush,
    nudge: schedule,
  };
}
