/**
 * The package version (read from package.json; a light module for fast CLI startup).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPackageRoot } from '../agent/simulated/path.js';

/** The package version (from package.json), or `0.0.0` when it cannot be read. */
export function packageVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(join(findPackageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
