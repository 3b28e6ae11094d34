/**
 * Connect's content list (`GET /__api__/v1/content`), read as a stream: the answer is one JSON array
 * of every content on the server, not paginated, about 1.2 KB per content (descriptions, owners,
 * settings), so a large server answers tens of MB. Only each item's `guid`, `content_url` and name
 * (its `title`, else `name`) are kept (a few hundred bytes at most), so memory follows the number of contents, never the size of
 * the answer; reading stops at `MAX_CONTENT_LIST_BYTES` or `MAX_CONTENTS` with what was read so far
 * and says it was cut (issue 32.4).
 */
import type { Readable } from 'node:stream';
import { parser } from 'stream-json';

/** Contents kept from one list (a bound on memory: about 20 MB of GUIDs and paths at most). */
export const MAX_CONTENTS = 100_000;
/** Bytes of the answer read at most (about 100,000 contents of Connect's usual size). */
export const MAX_CONTENT_LIST_BYTES = 128 * 1024 * 1024;
/** Longest `guid` and `content_url` kept; an item with a longer one is skipped. */
const MAX_FIELD_CHARS = 2048;
/** Longest key or packed value the parser holds (a key longer than this is not Connect's). */
const MAX_PACKED = 64 * 1024;

/** One content of the list. */
export interface ContentItem {
  readonly guid: string;
  readonly contentUrl: string;
  /** Its name (or title), for the admin API; undefined when the list has none. */
  readonly name: string | undefined;
}

/** What a read of the list gave. */
export interface ContentListRead {
  readonly items: ContentItem[];
  /** Why reading stopped before the end, when it did. */
  readonly cut: 'bytes' | 'items' | undefined;
}

const FIELDS = new Set(['guid', 'content_url', 'name', 'title']);

/**
 * Scans `body` (the list's bytes) for its items' `guid` and `content_url`. Rejects when the answer
 * is not a JSON array of objects (as far as it was read).
 */
export async function scanContentList(
  body: Readable,
  maxBytes = MAX_CONTENT_LIST_BYTES,
  maxItems = MAX_CONTENTS,
): Promise<ContentListRead> {
  const items: ContentItem[] = [];
  const tokens = parser.asStream({
    packKeys: true,
    packStrings: false,
    packNumbers: false,
    streamKeys: false,
    maxPackedLength: MAX_PACKED,
    maxDepth: 64,
  });
  let bytes = 0;
  let cut: ContentListRead['cut'];
  const onData = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > maxBytes && cut === undefined) {
      cut = 'bytes';
      body.unpipe(tokens);
      body.destroy();
      tokens.end();
    }
  };
  body.on('data', onData);
  body.on('error', (err) => tokens.destroy(err));
  body.pipe(tokens);
  let depth = 0;
  let field: string | undefined;
  let capturing: string | undefined;
  let text = '';
  let guid: string | undefined;
  let url: string | undefined;
  let name: string | undefined;
  let tooLong = false;
  try {
    for await (const token of tokens as AsyncIterable<{ name: string; value?: string }>) {
      switch (token.name) {
        case 'startArray':
        case 'startObject':
          if (depth === 0 && token.name !== 'startArray') throw new Error('not a list');
          if (depth === 1 && token.name !== 'startObject') throw new Error('not a list of objects');
          depth++;
          if (depth === 2) {
            guid = undefined;
            url = undefined;
            name = undefined;
            tooLong = false;
          }
          field = undefined;
          break;
        case 'endArray':
        case 'endObject':
          depth--;
          field = undefined;
          if (depth === 1 && guid !== undefined && url !== undefined && !tooLong) {
            items.push({ guid, contentUrl: url, name });
            if (items.length >= maxItems) {
              cut = 'items';
              body.destroy();
              return { items, cut };
            }
          }
          break;
        case 'keyValue':
          field = depth === 2 && FIELDS.has(token.value!) ? token.value : undefined;
          break;
        case 'startString':
          if (depth <= 1) throw new Error('not a list of objects');
          capturing = field;
          text = '';
          break;
        case 'stringChunk':
          if (capturing === undefined) break;
          if (text.length + token.value!.length > MAX_FIELD_CHARS) {
            // A long title is cut, a long GUID or URL leaves the item out.
            if (capturing === 'name' || capturing === 'title') {
              text += token.value!.slice(0, Math.max(MAX_FIELD_CHARS - text.length, 0));
              break;
            }
            tooLong = true;
            capturing = undefined;
          } else text += token.value;
          break;
        case 'endString':
          if (capturing === 'guid') guid = text;
          else if (capturing === 'content_url') url = text;
          else if (capturing === 'title' || (capturing === 'name' && name === undefined)) name = text;
          capturing = undefined;
          field = undefined;
          break;
        default:
          // A number, true, false or null: never an item; it ends the value of the current key.
          if (depth <= 1 && token.name !== 'numberChunk') throw new Error('not a list of objects');
          field = undefined;
      }
    }
  } catch (err) {
    if (cut === undefined) throw err;
  } finally {
    body.off('data', onData);
    body.destroy();
  }
  if (cut === undefined && depth !== 0) throw new Error('the list ended early');
  return { items, cut };
}
