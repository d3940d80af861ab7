/**
 * Reading a directory of definition files (shared by the skill and workflow loaders).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DEFINITION_EXTENSIONS } from './definition.js';

/** One definition file found in a directory. */
export interface DefinitionFile {
  /** The path shown in messages: the directory as given, joined with the entry. */
  file: string;
  /** `structured` for JSON/YAML, `markdown` for a folder's SKILL.md. */
  kind: 'structured' | 'markdown';
  /** The file name without extension, or the folder name for SKILL.md. */
  stem: string;
  /** The folder holding a SKILL.md. */
  folder?: string;
  text: string;
}

/** Why a directory could not be read: it does not exist, or it is not a directory. */
export type DirectoryProblem = 'missing' | 'not_a_directory';

/**
 * Lists the definition files of `dir` in sorted name order: every `*.json`, `*.yaml` and `*.yml` file,
 * and, when `markdownName` is given, every subfolder holding a file of that name. Hidden entries (`.…`)
 * and anything else are ignored.
 */
export async function readDefinitionDirectory(
  dir: string,
  markdownName?: string,
): Promise<{ files: DefinitionFile[] } | { problem: DirectoryProblem }> {
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'missing' };
    throw error;
  }
  if (!info.isDirectory()) return { problem: 'not_a_directory' };
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  const files: DefinitionFile[] = [];
  for (const name of names) {
    const full = path.join(dir, name);
    const entry = await stat(full).catch(() => undefined);
    if (entry === undefined) continue;
    if (entry.isDirectory()) {
      if (markdownName === undefined) continue;
      const file = path.join(full, markdownName);
      const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
        throw error;
      });
      if (text !== undefined) files.push({ file, kind: 'markdown', stem: name, folder: full, text });
      continue;
    }
    const ext = path.extname(name).toLowerCase();
    if (!entry.isFile() || !DEFINITION_EXTENSIONS.includes(ext)) continue;
    files.push({
      file: full,
      kind: 'structured',
      stem: name.slice(0, -ext.length),
      text: await readFile(full, 'utf8'),
    });
  }
  return { files };
}
