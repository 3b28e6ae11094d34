/**
 * What the data plane reads of Connect's deploy calls (issue 24): the `task_id` in a deploy's
 * answer, and whether a task poll's answer says `finished`. Only these small JSON bodies are
 * copied, as they stream through unchanged, and only up to `MAX_TAP_BYTES`.
 */
import { isTaskPoll } from './task-lookup.js';

/** Largest answer read for a task id or a finished flag (a poll's output lines can be long). */
const MAX_TAP_BYTES = 256 * 1024;

/** A deploy: Connect's v1 API, or the older API rsconnect's R client still uses. */
const DEPLOY = /^\/__api__\/(?:v1\/content|applications)\/[^/?]+\/deploy(?:\?|$)/;
const TASK_ID = /^\/__api__\/(?:v1\/)?tasks\/([^/?]+)/;

/** What an answer may tell about deploy tasks: a deploy's task id, or a poll's finished flag. */
export type TaskWatch = 'deploy' | 'poll';

/** Whether the answer to `method path` is read for a task: a deploy's, or a task poll's. */
export function taskWatchOf(method: string | undefined, path: string): TaskWatch | undefined {
  if (!path.startsWith('/__api__/')) return undefined;
  if (method === 'POST' && DEPLOY.test(path)) return 'deploy';
  if (method === 'GET' && isTaskPoll(path)) return 'poll';
  return undefined;
}

/** A copy of an answer's body as it streams by, up to MAX_TAP_BYTES (beyond: given up). */
export class BodyTap {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  push(chunk: Buffer): void {
    if (this.#bytes > MAX_TAP_BYTES) return;
    this.#bytes += chunk.length;
    if (this.#bytes > MAX_TAP_BYTES) this.#chunks.length = 0;
    else this.#chunks.push(chunk);
  }

  /** The body as JSON, or undefined (too long, or not JSON). */
  json(): unknown {
    if (this.#bytes > MAX_TAP_BYTES) return undefined;
    try {
      return JSON.parse(Buffer.concat(this.#chunks).toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }
}

/** The task id of a deploy's answer (`{"task_id": "..."}`), if any. */
export function startedTask(body: unknown): string | undefined {
  const id = (body as { task_id?: unknown } | null)?.task_id;
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
}

/** The task id a poll asked for. */
export function polledTask(path: string): string | undefined {
  return TASK_ID.exec(path)?.[1];
}

/** Whether a poll's answer says the task is over. */
export function isFinished(body: unknown): boolean {
  return (body as { finished?: unknown } | null)?.finished === true;
}
