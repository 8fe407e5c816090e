/**
 * Sets `key` to `value` as the newest entry of `map`, and forgets the oldest entry past `max`: a
 * Map keeps insertion order, so its first key is the one set longest ago. The one rule of
 * Drydock's in-memory memories (stream states, inline teardowns, known tokens, lease owners):
 * each is bounded, and what it forgot is read again as before.
 */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}
