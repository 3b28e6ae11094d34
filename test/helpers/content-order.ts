/** Contents chosen by where rule 10 prefers them, for tests of placement. */
import { contentKey } from '../../src/affinity/placement.js';
import { rendezvousScore, rendezvousSeed } from '../../src/affinity/rendezvous.js';

/** Node names in the order `content` prefers them under `secret` (its rendezvous order, every weight 1). */
export function contentOrder(content: string, names: readonly string[], secret: string): string[] {
  const key = contentKey(content);
  return [...names].sort(
    (a, b) =>
      rendezvousScore(key, rendezvousSeed(secret, b), 1) - rendezvousScore(key, rendezvousSeed(secret, a), 1),
  );
}

/** The `skip`-th content GUID whose preferred node is `first`. */
export function contentPreferring(first: string, names: readonly string[], secret: string, skip = 0): string {
  let found = 0;
  for (let i = 0; ; i++) {
    const guid = `6a3b0c1d-2e4f-4a5b-9c6d-${String(i).padStart(12, '0')}`;
    if (contentOrder(guid, names, secret)[0] === first && found++ === skip) return guid;
  }
}
