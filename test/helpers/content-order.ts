/** Contents chosen by where rule 10 prefers them, for tests of placement. */
import { contentKey } from '../../src/affinity/placement.js';
import { rendezvousScore, rendezvousSeed } from '../../src/affinity/rendezvous.js';

/** Node names in the order `content` prefers them under `secret` (its rendezvous order; weight 1 unless given). */
export function contentOrder(
  content: string,
  names: readonly string[],
  secret: string,
  weights: Readonly<Record<string, number>> = {},
): string[] {
  const key = contentKey(content);
  const score = (n: string) => rendezvousScore(key, rendezvousSeed(secret, n), weights[n] ?? 1);
  return [...names].sort((a, b) => score(b) - score(a));
}

/** The `skip`-th content GUID whose preferred node is `first` (under `weights`, 1 unless given). */
export function contentPreferring(
  first: string,
  names: readonly string[],
  secret: string,
  skip = 0,
  weights: Readonly<Record<string, number>> = {},
): string {
  let found = 0;
  for (let i = 0; ; i++) {
    const guid = `6a3b0c1d-2e4f-4a5b-9c6d-${String(i).padStart(12, '0')}`;
    if (contentOrder(guid, names, secret, weights)[0] === first && found++ === skip) return guid;
  }
}
