/**
 * Records keyed by ids that come and go (task ids): the running tasks, their jobs, their reservations, the
 * tasks in review.
 *
 * Every task id is new, and a plain object literal given ever-new keys (`{ ...record, [taskId]: value }`) grows
 * V8's tree of hidden classes with each one, which makes copies and lookups slower the more tasks have passed.
 * These records are dictionary-mode objects (no prototype) built by the functions below, so each change costs
 * the same whatever the number of tasks before it. They are still plain records to read: `record[id]`,
 * `id in record`, `Object.keys(record)`.
 */

/** A record keyed by task ids (read it like any record; change it only through the functions here). */
export type Keyed<T> = Record<string, T>;

/** An empty keyed record. */
export function emptyKeyed<T>(): Keyed<T> {
  return Object.create(null) as Keyed<T>;
}

/** A keyed record with the same entries as `record` (any record: a plain one is converted). */
export function keyedFrom<T>(record: Readonly<Record<string, T>>): Keyed<T> {
  const copy = emptyKeyed<T>();
  for (const key of Object.keys(record)) copy[key] = record[key];
  return copy;
}

/** A copy of `record` with `key` set to `value`. */
export function withKey<T>(record: Readonly<Record<string, T>>, key: string, value: T): Keyed<T> {
  const copy = keyedFrom(record);
  copy[key] = value;
  return copy;
}

/** A copy of `record` with every entry of `entries` set. */
export function withKeys<T>(record: Readonly<Record<string, T>>, entries: Iterable<readonly [string, T]>): Keyed<T> {
  const copy = keyedFrom(record);
  for (const [key, value] of entries) copy[key] = value;
  return copy;
}

/** A copy of `record` without `key` (`record` itself when it has no such key). */
export function withoutKey<T>(record: Readonly<Record<string, T>>, key: string): Keyed<T> {
  if (!Object.prototype.hasOwnProperty.call(record, key)) return record as Keyed<T>;
  const copy = emptyKeyed<T>();
  for (const k of Object.keys(record)) if (k !== key) copy[k] = record[k];
  return copy;
}
