/**
 * The built page (`vite build` of `ui/` into `dist/ui-app/`), read into memory once: `index.html` and the
 * hashed files under `assets/`. Found next to the compiled server (`dist/src/ui/` → `dist/ui-app/`) or, when
 * the server runs from its TypeScript sources, in the repository's `dist/ui-app/`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the page. */
export interface PageFile {
  contentType: string;
  body: Uint8Array;
}

/** The page's files by path (`index.html`, `assets/index-1a2b.js`, …). */
export type PageFiles = ReadonlyMap<string, PageFile>;

/** The page has not been built (run `npm run build`). */
export class UiNotBuiltError extends Error {
  constructor(readonly searched: readonly string[]) {
    super(`the web page is not built (looked in ${searched.join(', ')}); run npm run build`);
    this.name = 'UiNotBuiltError';
  }
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
};

/** Where the built page may be, nearest first. */
export function pageDirCandidates(): string[] {
  return [new URL('../../ui-app/', import.meta.url), new URL('../../dist/ui-app/', import.meta.url)].map((url) =>
    fileURLToPath(url),
  );
}

let cached: PageFiles | undefined;

/** Reads the built page (once). Throws {@link UiNotBuiltError} when it is not there. */
export function pageFiles(): PageFiles {
  if (cached) return cached;
  const candidates = pageDirCandidates();
  const dir = candidates.find((candidate) => existsSync(join(candidate, 'index.html')));
  if (!dir) throw new UiNotBuiltError(candidates);
  const files = new Map<string, PageFile>();
  const add = (relative: string) => {
    files.set(relative, {
      contentType: CONTENT_TYPES[extname(relative)] ?? 'application/octet-stream',
      body: readFileSync(join(dir, relative)),
    });
  };
  add('index.html');
  const assets = join(dir, 'assets');
  if (existsSync(assets)) for (const file of readdirSync(assets)) add(`assets/${file}`);
  cached = files;
  return files;
}
