/**
 * The client's side of an exchange (exchange/exchange.ts): what differs between an HTTP request and a
 * WebSocket handshake, while the lifecycle (admission, attempts, evidence, finishing) is one.
 * - `ResponseRelay` (http/response-relay.ts): an HTTP/1.1 response or an HTTP/2 stream; the node's
 *   answer is relayed and the exchange ends with it.
 * - `UpgradeSide` (websocket/upgrade-side.ts): a WebSocket handshake over HTTP/1.1 (a raw socket) or
 *   HTTP/2 (an RFC 8441 stream). A refusal is relayed like any answer; an acceptance opens a tunnel.
 */
import type { Duplex } from 'node:stream';
import type { UpstreamNode } from '../pool/upstream-node.js';
import type { AnswerCode } from './answers.js';
import type { ForwardedRequest } from './forwarded-headers.js';
import type { Route } from './router.js';

export interface ClientSide {
  /** How the finished request is recorded (spans, access lines). */
  readonly kind: 'http' | 'websocket';
  /** undici's `upgrade` dispatch option: the protocol the node is asked to switch to, or null. */
  readonly upgrade: string | null;
  /** The node's status, once its head was written. */
  readonly status: number;
  /** Body bytes written to the client. */
  readonly bytes: number;
  /** The chunk that completed the body was sent with the end. */
  readonly ended: boolean;
  /** Waiting for the client to take what was written. */
  readonly blocked: boolean;
  /** The client got (or was handed) a head: nothing can be retried any more. */
  readonly headersSent: boolean;
  /** Calls `listener` once if the client goes away before the exchange has finished with it. */
  watch(listener: () => void): void;
  /**
   * Writes the node's head (`close`: the connection ends after it); `resume` restarts a node paused
   * by a stall. Throws when the head cannot be written (a header node:http refuses).
   */
  head(
    status: number,
    rawHeaders: Buffer[],
    route: Route,
    fwd: ForwardedRequest,
    close: boolean,
    statusText: string,
    resume: () => void,
  ): void;
  /** Writes `chunk`; false when the client has not taken it yet (`resume` restarts the node). */
  write(chunk: Buffer): boolean;
  /** Ends the answer, unless its last chunk did. */
  end(): void;
  /** The node failed mid-answer: the client sees it cut, never a clean end. */
  cut(): void;
  /** Drops the client's connection (or stream) at once. */
  destroy(): void;
  /** Writes one of the balancer's own answers (not counted: the exchange finishes it). */
  answer(code: AnswerCode, retryAfterSeconds: number, close: boolean, fwd: ForwardedRequest): void;
  /**
   * The node accepted the upgrade with `rawHeaders` and handed over `socket`: tells the client and
   * opens the tunnel (`onClosed` hears its end). Returns the status the client saw, or 0 when the
   * client is gone (then the caller destroys `socket`).
   */
  open(
    rawHeaders: Buffer[],
    socket: Duplex,
    node: UpstreamNode,
    route: Route,
    fwd: ForwardedRequest,
    onClosed: () => void,
  ): number;
}
