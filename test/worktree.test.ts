import { chmod, mkdtemp, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { WorktreeError, WorktreeManager, sanitizeId } from '../src/worktree.js';

const cleanups: string[] = [];

async function tempDir(prefix = 'claude-pool-wt-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(dir);
  return dir;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', ...args], { cwd });
  return r.stdout.trim();
}

/** A repo with one commit on `main` containing README.md and src/a.txt. */
async function makeRepo(): Promise<string> {
  const dir = await tempDir();
  await git(dir, 'init', '-q', '-b', 'main');
  await writeFile(path.join(dir, 'README.md'), '# fixture\n');
  await mkdir(path.join(dir, 'src'));
  await writeFile(path.join(dir, 'src', 'a.txt'), 'a\n');
  await git(dir, 'add', '.');
  await git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function branches(repo: string): Promise<string[]> {
  const out = await git(repo, 'branch', '--format=%(refname:short)');
  return out.split('\n').filter((b) => b !== '');
}

async function worktreeCount(repo: string): Promise<number> {
  const out = await git(repo, 'worktree', 'list', '--porcelain');
  return out.split('\n').filter((l) => l.startsWith('worktree ')).length;
}

afterEach(async () => {
  for (const dir of cleanups.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('sanitizeId', () => {
  it('leaves ordinary ids unchanged', () => {
    expect(sanitizeId('slot-0')).toBe('slot-0');
    expect(sanitizeId('chain-abc123')).toBe('chain-abc123');
    expect(sanitizeId('A.b_c-9')).toBe('A.b_c-9');
  });

  it('neutralises hostile ids', () => {
    for (const hostile of [
      '../../etc',
      'a b;rm -rf',
      '-x',
      '.hidden',
      'x/../../y',
      'name.lock',
      'ends.',
      'a\nb',
      '$(id)',
    ]) {
      const safe = sanitizeId(hostile);
      expect(safe).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]*$/);
      expect(safe).not.toContain('..');
      expect(safe).not.toMatch(/\.lock$|\.$/);
      expect(safe.length).toBeLessThanOrEqual(64);
      expect(path.basename(safe)).toBe(safe);
    }
    expect(sanitizeId('../../etc')).toMatch(/^etc-[0-9a-f]{8}$/);
    expect(sanitizeId('-x')).toMatch(/^x-[0-9a-f]{8}$/);
    expect(sanitizeId('a b;rm -rf')).toMatch(/^a-b-rm-rf-[0-9a-f]{8}$/);
  });

  it('keeps distinct hostile ids distinct and is deterministic', () => {
    expect(sanitizeId('a b')).not.toBe(sanitizeId('a;b'));
    expect(sanitizeId('a b')).toBe(sanitizeId('a b'));
  });

  it('bounds the length', () => {
    const long = 'x'.repeat(500);
    expect(sanitizeId(long).length).toBeLessThanOrEqual(64);
    expect(sanitizeId(long)).not.toBe(sanitizeId(`${long}y`));
  });

  it('throws invalid_id when nothing is left', () => {
    for (const bad of ['', '..', '../', '///', '-', '.', ' ']) {
      let err: unknown;
      try {
        sanitizeId(bad);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(WorktreeError);
      expect((err as WorktreeError).code).toBe('invalid_id');
    }
  });
});

describe('WorktreeManager.open', () => {
  it('rejects a directory that is not in a git work tree', async () => {
    const dir = await tempDir('claude-pool-nogit-');
    expect(await WorktreeManager.isGitRepo(dir)).toBe(false);
    const err = await WorktreeManager.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorktreeError);
    expect((err as WorktreeError).code).toBe('not_a_git_repo');
    expect((err as WorktreeError).message).toBe(
      `worktree isolation requires a git repository, but ${dir} is not inside a git work tree`,
    );
  });

  it('resolves the top level from a subdirectory and defaults the base dir', async () => {
    const repo = await makeRepo();
    expect(await WorktreeManager.isGitRepo(path.join(repo, 'src'))).toBe(true);
    const wt = await WorktreeManager.open(path.join(repo, 'src'));
    const top = await git(repo, 'rev-parse', '--show-toplevel');
    expect(wt.repoDir).toBe(top);
    expect(wt.baseDir).toBe(path.join(top, '.claude', 'pool-worktrees'));
    expect(wt.tracked()).toEqual([]);
  });

  it('rejects a base dir that contains the repository', async () => {
    const repo = await makeRepo();
    const err = await WorktreeManager.open(repo, { baseDir: path.dirname(repo) }).catch((e: unknown) => e);
    expect((err as WorktreeError).code).toBe('invalid_option');
  });
});

describe('slot worktrees', () => {
  it('creates a worktree on its own branch with the repo files, isolated from the main checkout', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    const p = await wt.createForSlot('slot-0');
    expect(p).toBe(path.join(wt.baseDir, 'slot-0'));
    expect(await readFile(path.join(p, 'README.md'), 'utf8')).toBe('# fixture\n');
    expect(await readFile(path.join(p, 'src', 'a.txt'), 'utf8')).toBe('a\n');
    expect(await git(p, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('claude-pool/slot-0');
    expect(await git(p, 'rev-parse', 'HEAD')).toBe(await git(repo, 'rev-parse', 'HEAD'));

    await writeFile(path.join(p, 'new-file.txt'), 'only in the worktree\n');
    expect(await exists(path.join(repo, 'new-file.txt'))).toBe(false);
    expect(await git(repo, 'status', '--porcelain')).toBe('');

    expect(wt.tracked()).toEqual([
      { kind: 'slot', id: 'slot-0', safeId: 'slot-0', path: p, branch: 'claude-pool/slot-0' },
    ]);
  });

  it('keeps the main checkout clean via info/exclude, not .gitignore', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    await wt.createForSlot('slot-0');
    await wt.createForChain('chain-1');
    await wt.createCloneForChain('chain-2');
    expect(await git(repo, 'status', '--porcelain', '--untracked-files=all')).toBe('');
    expect(await exists(path.join(repo, '.gitignore'))).toBe(false);
    const exclude = await readFile(path.join(repo, '.git', 'info', 'exclude'), 'utf8');
    expect(exclude.split('\n').filter((l) => l === '/.claude/pool-worktrees/')).toHaveLength(1);

    // A second manager does not add the line again.
    const wt2 = await WorktreeManager.open(repo, { poolId: 'other' });
    await wt2.createForSlot('slot-0');
    const exclude2 = await readFile(path.join(repo, '.git', 'info', 'exclude'), 'utf8');
    expect(exclude2.split('\n').filter((l) => l === '/.claude/pool-worktrees/')).toHaveLength(1);
    expect(await git(repo, 'status', '--porcelain', '--untracked-files=all')).toBe('');
    await wt.cleanupAll();
    await wt2.cleanupAll();
  });

  it('removeSlot removes the directory and the branch', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    const p = await wt.createForSlot('slot-1');
    await writeFile(path.join(p, 'dirty.txt'), 'untracked change\n');
    await wt.removeSlot('slot-1');
    expect(await exists(p)).toBe(false);
    expect(await branches(repo)).toEqual(['main']);
    expect(await worktreeCount(repo)).toBe(1);
    expect(wt.tracked()).toEqual([]);
    // Idempotent.
    await wt.removeSlot('slot-1');
  });

  it('re-creates a slot over a leftover directory and branch from an earlier run', async () => {
    const repo = await makeRepo();
    const first = await WorktreeManager.open(repo);
    const p = await first.createForSlot('slot-0');
    await writeFile(path.join(p, 'leftover.txt'), 'from the crashed run\n');
    await git(p, 'add', '.');
    await git(p, 'commit', '-q', '-m', 'leftover');

    // A new manager (new process) finds the old worktree and branch still there.
    const second = await WorktreeManager.open(repo);
    const p2 = await second.createForSlot('slot-0');
    expect(p2).toBe(p);
    expect(await exists(path.join(p2, 'leftover.txt'))).toBe(false);
    expect(await git(p2, 'rev-parse', 'HEAD')).toBe(await git(repo, 'rev-parse', 'main'));

    // Leftover branch without its directory (directory deleted by hand).
    await rm(p2, { recursive: true, force: true });
    const third = await WorktreeManager.open(repo);
    const p3 = await third.createForSlot('slot-0');
    expect(await readFile(path.join(p3, 'README.md'), 'utf8')).toBe('# fixture\n');

    // Leftover plain directory that is not a worktree at all.
    await third.removeSlot('slot-0');
    await mkdir(p3, { recursive: true });
    await writeFile(path.join(p3, 'junk'), 'x');
    const warnings: string[] = [];
    const fourth = await WorktreeManager.open(repo, { onWarning: (m) => warnings.push(m) });
    const p4 = await fourth.createForSlot('slot-0');
    expect(await exists(path.join(p4, 'junk'))).toBe(false);
    expect(await exists(path.join(p4, 'README.md'))).toBe(true);
    expect(warnings.length).toBeGreaterThan(0);
    await fourth.cleanupAll();
    expect(await branches(repo)).toEqual(['main']);
  });

  it('creates 4 slot worktrees in parallel', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    const paths = await Promise.all(['slot-0', 'slot-1', 'slot-2', 'slot-3'].map((s) => wt.createForSlot(s)));
    expect(new Set(paths).size).toBe(4);
    for (const p of paths) expect(await exists(path.join(p, 'README.md'))).toBe(true);
    expect(await worktreeCount(repo)).toBe(5);
    expect((await branches(repo)).sort()).toEqual([
      'claude-pool/slot-0',
      'claude-pool/slot-1',
      'claude-pool/slot-2',
      'claude-pool/slot-3',
      'main',
    ]);
    expect(await git(repo, 'status', '--porcelain')).toBe('');
    await wt.cleanupAll();
  });

  it('uses sanitised ids in paths and branches and rejects reserved slot ids', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    const p = await wt.createForSlot('../../etc');
    expect(path.dirname(p)).toBe(wt.baseDir);
    expect(path.basename(p)).toMatch(/^etc-[0-9a-f]{8}$/);
    expect(await git(p, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(`claude-pool/${path.basename(p)}`);
    await wt.removeSlot('../../etc');
    expect(await exists(p)).toBe(false);
    await expect(wt.createForSlot('chains')).rejects.toMatchObject({ code: 'invalid_id' });
    await expect(wt.createForSlot('')).rejects.toMatchObject({ code: 'invalid_id' });
  });

  it('namespaces branches and directories with a pool id so two pools do not collide', async () => {
    const repo = await makeRepo();
    const a = await WorktreeManager.open(repo, { poolId: 'pool-a' });
    const b = await WorktreeManager.open(repo, { poolId: 'pool-b' });
    const [pa, pb] = await Promise.all([a.createForSlot('slot-0'), b.createForSlot('slot-0')]);
    expect(pa).toBe(path.join(a.baseDir, 'pool-a', 'slot-0'));
    expect(pb).toBe(path.join(b.baseDir, 'pool-b', 'slot-0'));
    expect(await git(pa, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('claude-pool/pool-a/slot-0');
    expect(await git(pb, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('claude-pool/pool-b/slot-0');
    await a.cleanupAll();
    expect(await exists(pb)).toBe(true);
    await b.cleanupAll();
    expect(await branches(repo)).toEqual(['main']);
  });

  it('reports git stderr when worktree add fails', async () => {
    const dir = await tempDir();
    await git(dir, 'init', '-q', '-b', 'main'); // no commits: HEAD is unborn
    const wt = await WorktreeManager.open(dir);
    const err = await wt.createForSlot('slot-0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorktreeError);
    expect((err as WorktreeError).code).toBe('git_failed');
    expect((err as WorktreeError).message).toMatch(/^git worktree add failed: .+/);
    expect((err as WorktreeError).stderr).toBeTruthy();
  });
});

describe('chain worktrees and clones', () => {
  it('creates and removes a chain worktree', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    const p = await wt.createForChain('chain-abc');
    expect(p).toBe(path.join(wt.baseDir, 'chains', 'chain-abc'));
    expect(await git(p, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('claude-pool/chain/chain-abc');
    expect(await exists(path.join(p, 'src', 'a.txt'))).toBe(true);
    await wt.removeChain('chain-abc');
    expect(await exists(p)).toBe(false);
    expect(await branches(repo)).toEqual(['main']);
  });

  it('creates a clone with the files and rewrites origin to the repo remote URL', async () => {
    const repo = await makeRepo();
    await git(repo, 'remote', 'add', 'origin', 'https://example.invalid/x.git');
    const wt = await WorktreeManager.open(repo);
    const p = await wt.createCloneForChain('chain-xyz');
    expect(p).toBe(path.join(wt.baseDir, 'clones', 'chain-xyz'));
    expect(await readFile(path.join(p, 'README.md'), 'utf8')).toBe('# fixture\n');
    expect(await git(p, 'remote', 'get-url', 'origin')).toBe('https://example.invalid/x.git');
    expect(await git(p, 'rev-parse', 'HEAD')).toBe(await git(repo, 'rev-parse', 'HEAD'));
    // The clone is independent: a commit there does not touch the repo's branches.
    await writeFile(path.join(p, 'c.txt'), 'c\n');
    await git(p, 'add', '.');
    await git(p, 'commit', '-q', '-m', 'in clone');
    expect(await exists(path.join(repo, 'c.txt'))).toBe(false);
    expect(await git(repo, 'status', '--porcelain')).toBe('');

    await wt.removeClone('chain-xyz');
    expect(await exists(p)).toBe(false);
    expect(wt.tracked()).toEqual([]);
  });

  it('leaves origin pointing at the local repo when the repo has no network remote', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    const p = await wt.createCloneForChain('chain-1');
    expect(await git(p, 'remote', 'get-url', 'origin')).toBe(wt.repoDir);
    await wt.cleanupAll();
  });
});

describe('cleanupAll', () => {
  it('leaves nothing behind', async () => {
    const repo = await makeRepo();
    await git(repo, 'remote', 'add', 'origin', 'https://example.invalid/x.git');
    const wt = await WorktreeManager.open(repo);
    await Promise.all([
      wt.createForSlot('slot-0'),
      wt.createForSlot('slot-1'),
      wt.createForChain('chain-a'),
      wt.createCloneForChain('chain-b'),
    ]);
    expect(wt.tracked()).toHaveLength(4);
    await wt.cleanupAll();
    expect(wt.tracked()).toEqual([]);
    const left = (await exists(wt.baseDir)) ? await readdir(wt.baseDir) : [];
    expect(left).toEqual([]);
    expect(await worktreeCount(repo)).toBe(1);
    expect((await branches(repo)).filter((b) => b.startsWith('claude-pool/'))).toEqual([]);
    expect(await git(repo, 'status', '--porcelain')).toBe('');
  });

  it('attempts everything and throws one cleanup_failed error', async () => {
    const repo = await makeRepo();
    const warnings: string[] = [];
    const wt = await WorktreeManager.open(repo, { onWarning: (m) => warnings.push(m) });
    const slot0 = await wt.createForSlot('slot-0');
    const slot1 = await wt.createForSlot('slot-1');
    const clone = await wt.createCloneForChain('chain-b');
    // Break git for the duration of the cleanup: every git command in the repo now fails.
    await rename(path.join(repo, '.git'), path.join(repo, '.git-away'));
    try {
      const err = await wt.cleanupAll().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorktreeError);
      expect((err as WorktreeError).code).toBe('cleanup_failed');
      expect((err as WorktreeError).message).toMatch(/^worktree cleanup failed \(\d+\): .*git worktree prune failed: /);
      expect((err as WorktreeError).causes.length).toBeGreaterThan(0);
      // Everything was still attempted: the directories are gone (rm -rf fallback).
      for (const p of [slot0, slot1, clone]) expect(await exists(p)).toBe(false);
      expect(warnings.length).toBeGreaterThanOrEqual(2);
    } finally {
      await rename(path.join(repo, '.git-away'), path.join(repo, '.git'));
    }
    await git(repo, 'worktree', 'prune');
    await git(repo, 'branch', '-D', 'claude-pool/slot-0', 'claude-pool/slot-1');
  });

  it.skipIf(process.getuid?.() === 0)('reports an undeletable clone and still removes the rest', async () => {
    const repo = await makeRepo();
    const wt = await WorktreeManager.open(repo);
    await wt.createForSlot('slot-0');
    const clone = await wt.createCloneForChain('chain-b');
    const clonesDir = path.dirname(clone);
    await chmod(clonesDir, 0o555); // the clone's entry cannot be unlinked
    try {
      const err = await wt.cleanupAll().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorktreeError);
      expect((err as WorktreeError).code).toBe('cleanup_failed');
      expect((err as WorktreeError).causes).toHaveLength(1);
      expect((err as WorktreeError).message).toContain('chain-b');
      expect(await exists(path.join(wt.baseDir, 'slot-0'))).toBe(false);
      expect(await branches(repo)).toEqual(['main']);
    } finally {
      await chmod(clonesDir, 0o755);
    }
    await wt.cleanupAll();
    expect(wt.tracked()).toEqual([]);
  });
});
