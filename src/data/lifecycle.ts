/**
 * Where the data plane is in its stop. A stop has two phases (issue 24):
 * 1. Leaving, for `shutdownDelay`: the admin server says unready while the listeners keep
 *    accepting and serving (an L4 balancer or kube-proxy still sends new connections for a while
 *    after it is told, and a closed port would reset them). Every response head written from the
 *    signal on says `Connection: close`, and HTTP/2 sessions get GOAWAY, so clients move to
 *    another replica at their next request. A second signal ends this phase at once.
 * 2. Closing (data-plane.ts): the listeners stop accepting, WebSockets are cut, in-flight requests
 *    finish within `shutdownTimeout`.
 */

/** The stop's state, shared by everything that writes a response head. */
export class Lifecycle {
  /** Set at the stop signal: every response head written from now on says `Connection: close`. */
  closing = false;
  #skip: (() => void) | undefined;

  /** Keeps serving for `ms` (the leaving phase), or until `skip()`. */
  leave(ms: number): Promise<void> {
    this.closing = true;
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const skip = this.#skip;
      this.#skip = done;
      function done() {
        clearTimeout(timer);
        skip?.();
        resolve();
      }
    }).then(() => {
      this.#skip = undefined;
    });
  }

  /** Ends the leaving phase now; false when none is under way. */
  skip(): boolean {
    const skip = this.#skip;
    if (skip === undefined) return false;
    this.#skip = undefined;
    skip();
    return true;
  }
}
