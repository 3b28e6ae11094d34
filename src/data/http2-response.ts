/**
 * The response head of an HTTP/2 request, sent on its stream directly. node's compatibility layer
 * would validate and store each header, then send it with `waitForTrailers`, which costs a trailers
 * step per response; stickylb sends no trailers and its header list is built already.
 */
import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';

/** Sends `status` and the flat `[name, value, ...]` `headers` as the head of `res`'s stream. */
export function respondHttp2(res: ServerResponse, status: number, headers: readonly string[]): void {
  const head: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const value = headers[i + 1]!;
    const had = head[name];
    if (had === undefined) head[name] = value;
    else head[name] = Array.isArray(had) ? [...had, value] : [String(had), value];
  }
  (res as unknown as Http2ServerResponse).stream.respond(head);
}
