/**
 * Runs the store conformance suite against every store the package ships.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { PoolStore } from '../../src/store/types.js';
import { describeStore } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'claude-pool-store-'));
let files = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStore('MemoryStore', () => new MemoryStore());

describeStore(
  'SqliteStore (file, WAL)',
  () => SqliteStore.open(join(dir, `conformance-${++files}.db`)),
  (store: PoolStore) => (store as SqliteStore).close(),
);

describeStore(
  'SqliteStore (:memory:)',
  () => SqliteStore.open(':memory:'),
  (store: PoolStore) => (store as SqliteStore).close(),
);
