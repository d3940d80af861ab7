/**
 * Id generation: prefixed nanoid ids (`task-…`, `chain-…`, `msg-…`).
 */
import { customAlphabet } from 'nanoid';

const alphabet = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

/** A new id with the given prefix, e.g. `task-k3x9…`. Ids are safe as path segments and branch names. */
export function newId(prefix: 'task' | 'chain' | 'msg' | 'pool' | 'scale' | 'perm'): string {
  return `${prefix}-${alphabet()}`;
}
