/**
 * `watchConfig`: the configuration follows its file. The file's directory is watched, not the file:
 * editors replace files by rename, and Kubernetes updates a mounted ConfigMap by swapping the
 * `..data` symlink in the mounted directory, neither of which a watch on the file itself sees. After
 * an event the writes get time to settle; content identical to the last seen is skipped; anything
 * else is applied exactly as a reload (an invalid file keeps the running configuration). A slow
 * re-read catches what a watch may miss (network file systems).
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../logger.js';

/** Time for writes to settle after the last event. */
const SETTLE_MS = 300;
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
  #last: string | undefined;
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
    clearTimeout(this.#settle);
    this.#settle = setTimeout(() => void this.#check(), SETTLE_MS);
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
      if (text === this.#last) return;
      this.#last = text;
      this.#log.info({ file: this.#file }, 'configuration file changed; reloading');
      await this.#onChange();
    } finally {
      this.#checking = false;
    }
  }
}
