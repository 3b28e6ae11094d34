/**
 * `watchConfig`: the configuration follows its file. The file's directory is watched, not the file:
 * editors replace files by rename, and Kubernetes updates a mounted ConfigMap by swapping the
 * `..data` symlink in the mounted directory, neither of which a watch on the file itself sees.
 * Content identical to the last applied is skipped; anything else is applied exactly as a reload
 * (an invalid file keeps the running configuration), but only once the file has read the same for
 * `SETTLE_MS`, on every path (watch event or the slow re-read that catches what a watch may miss on
 * network file systems): a file written in place in parts is never applied half-written, which
 * would remove the nodes its missing half names and cut their sockets (issue 22.4).
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';

/** How long new content must stay the same before it is applied. */
export const SETTLE_MS = 2000;
/** Time after a watch event before the file is read (events come in bursts). */
const EVENT_DELAY_MS = 100;
/** The safety-net re-read. */
const POLL_MS = 5000;

/** Watches one configuration file. */
export class ConfigWatch {
  readonly #file: string;
  readonly #onChange: () => Promise<unknown>;
  readonly #log: Logger;
  #watcher: FSWatcher | undefined;
  #settle: NodeJS.Timeout | undefined;
  readonly #poll: NodeJS.Timeout;
  /** The content last applied (or found at start). */
  #last: string | undefined;
  /** New content seen, not yet applied, and when it was first read. */
  #candidate: string | undefined;
  #candidateAt = 0;
  #checking = false;

  /** Starts watching `file`; `onChange` reloads (and reports its own outcome). */
  constructor(file: string, onChange: () => Promise<unknown>, logger: Logger) {
    this.#file = file;
    this.#onChange = onChange;
    this.#log = logger.child({ component: 'config-watch' });
    void readFile(file, 'utf8').then(
      (text) => {
        this.#last ??= text;
      },
      () => {},
    );
    try {
      this.#watcher = watch(dirname(file), () => this.#changed());
      this.#watcher.on('error', (err) => this.#log.warn({ err }, 'cannot watch the configuration directory'));
    } catch (err) {
      this.#log.warn({ err, file }, 'cannot watch the configuration directory; re-reading it every 5 s');
    }
    this.#poll = setInterval(() => void this.#check(), POLL_MS);
    this.#poll.unref();
  }

  /** Stops watching. */
  close(): void {
    this.#watcher?.close();
    clearTimeout(this.#settle);
    clearInterval(this.#poll);
  }

  #changed(): void {
    this.#checkIn(EVENT_DELAY_MS);
  }

  #checkIn(ms: number): void {
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => void this.#check(), ms);
    this.#settle.unref();
  }

  async #check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      let text: string;
      try {
        text = await readFile(this.#file, 'utf8');
      } catch {
        return; // mid-swap, or removed: the next event or poll looks again
      }
      if (text === this.#last) {
        this.#candidate = undefined;
        return;
      }
      const now = performance.now();
      if (text !== this.#candidate) {
        // New content: applied only if it still reads the same once it has settled.
        this.#candidate = text;
        this.#candidateAt = now;
        this.#checkIn(SETTLE_MS);
        return;
      }
      const settledIn = this.#candidateAt + SETTLE_MS - now;
      if (settledIn > 0) {
        this.#checkIn(settledIn);
        return;
      }
      this.#candidate = undefined;
      this.#last = text;
      this.#log.info({ file: this.#file }, 'configuration file changed; reloading');
      await this.#onChange();
    } finally {
      this.#checking = false;
    }
  }
}
