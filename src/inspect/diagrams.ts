/**
 * Generates `docs/statecharts/<machine>.md` for every statechart exported from `machines/`: a heading, what the
 * machine is (the machine module's header comment), the Mermaid diagram, and tables of its states and events.
 *
 * Machines are found, not listed: every module in `machines/` is imported and every exported XState machine
 * gets a page, so a new machine file is picked up by `npm run diagrams` without touching this code. It works
 * from the sources (vitest) and from `dist/` (the `diagrams` script), which keep the same relative layout.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateMachine, type AnyStateMachine } from 'xstate';
import { toGraph, type GraphEdge, type GraphNode, type StatechartGraph } from './graph.js';
import { toMermaid } from './mermaid.js';

/** One exported machine and where it came from. */
export interface MachineEntry {
  /** The machine's id (`task`, `slot`, …); also the name of its page. */
  id: string;
  /** The export's name (`taskMachine`). */
  exportName: string;
  /** The module's path relative to the repository, with a `.ts` extension (`machines/task.ts`). */
  source: string;
  /** The module's header comment, as one paragraph. */
  summary: string;
  machine: AnyStateMachine;
}

/** The folder the machine modules are in, relative to this module (the same from `src/` and `dist/src/`). */
export const MACHINES_DIR = new URL('../../machines/', import.meta.url);

/** The first `/** … *\/` comment of a module, as one paragraph of Markdown. */
export function headerComment(text: string): string {
  const match = /^\s*(?:#!.*\n)?\s*\/\*\*([\s\S]*?)\*\//.exec(text);
  if (!match) return '';
  return match[1]
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, '').trim())
    .filter((line) => line !== '')
    .join(' ');
}

/**
 * Every exported state machine in `dir` (default {@link MACHINES_DIR}), ordered by id. Modules are the `.ts`
 * files when running from sources, the `.js` files when running from `dist/`.
 */
export async function loadMachines(dir: URL = MACHINES_DIR): Promise<MachineEntry[]> {
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const files = readdirSync(fileURLToPath(dir))
    .filter((file) => file.endsWith(extension) && !file.endsWith('.d.ts') && !file.includes('.test.'))
    .sort();
  const entries: MachineEntry[] = [];
  const seen = new Set<AnyStateMachine>();
  for (const file of files) {
    const url = new URL(file, dir);
    const module = (await import(url.href)) as Record<string, unknown>;
    const summary = headerComment(readFileSync(url, 'utf8'));
    for (const [exportName, value] of Object.entries(module).sort(([a], [b]) => a.localeCompare(b))) {
      if (!(value instanceof StateMachine) || seen.has(value)) continue;
      seen.add(value);
      entries.push({
        id: value.id,
        exportName,
        source: `machines/${file.replace(/\.js$/, '.ts')}`,
        summary,
        machine: value,
      });
    }
  }
  // Two machines with one id get their export name as the page name.
  const counts = new Map<string, number>();
  for (const entry of entries) counts.set(entry.id, (counts.get(entry.id) ?? 0) + 1);
  for (const entry of entries) if ((counts.get(entry.id) ?? 0) > 1) entry.id = entry.exportName;
  return entries.sort((a, b) => a.id.localeCompare(b.id));
}

function code(text: string): string {
  return text === '' ? '' : `\`${text.replace(/`/g, "'")}\``;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A node's name below the root: `busy.working`. */
function shortId(graph: StatechartGraph, id: string): string {
  return id === graph.id ? `(${graph.id})` : id.startsWith(`${graph.id}.`) ? id.slice(graph.id.length + 1) : id;
}

function stateRows(graph: StatechartGraph): string[] {
  const root = graph.nodes.find((node) => node.parent === undefined);
  const initials = new Set(graph.nodes.map((node) => node.initial).filter((id): id is string => id !== undefined));
  const rows = ['| State | Kind | Invokes | Leaves on |', '|---|---|---|---|'];
  const leaving = (node: GraphNode) => {
    const events = graph.edges.filter((edge) => edge.source === node.id && !edge.targetless).map((edge) => edge.label);
    return [...new Set(events)].map(code).join(', ');
  };
  for (const node of graph.nodes) {
    if (node === root) continue;
    const kind = [node.type, initials.has(node.id) ? 'initial' : ''].filter(Boolean).join(', ');
    const description = node.description ? ` — ${node.description}` : '';
    rows.push(
      `| ${code(shortId(graph, node.id))}${cell(description)} | ${kind} | ${node.invoke.map(code).join(', ')} | ${leaving(node)} |`,
    );
  }
  return rows;
}

function eventRows(graph: StatechartGraph): string[] {
  const rows = ['| Event | From | To | Guard | Actions |', '|---|---|---|---|---|'];
  const order: string[] = [];
  const byLabel = new Map<string, GraphEdge[]>();
  for (const edge of graph.edges) {
    if (!byLabel.has(edge.label)) {
      order.push(edge.label);
      byLabel.set(edge.label, []);
    }
    byLabel.get(edge.label)?.push(edge);
  }
  for (const label of order) {
    for (const edge of byLabel.get(label) ?? []) {
      const from = edge.source === graph.id ? 'any state' : code(shortId(graph, edge.source));
      const to = edge.targetless ? '(stays)' : code(shortId(graph, edge.target));
      rows.push(
        `| ${code(label)} | ${from} | ${to}${edge.reenter ? ' (re-entered)' : ''} | ${code(edge.guard ?? '')} | ${cell(
          edge.actions.filter((action) => !action.startsWith('xstate.')).join(', '),
        )} |`,
      );
    }
  }
  return rows;
}

function title(id: string): string {
  return `${id.charAt(0).toUpperCase()}${id.slice(1)}`;
}

/** The Markdown page of one machine. */
export function renderDiagram(entry: MachineEntry): string {
  const graph = toGraph(entry.machine);
  const states = graph.nodes.length - 1;
  const lines = [
    `<!-- Generated by \`npm run diagrams\` from ${entry.source}. Do not edit: run \`npm run diagrams\` again. -->`,
    '',
    `# ${title(entry.id)} statechart`,
    '',
    `${entry.summary ? `${entry.summary} ` : ''}Exported as ${code(entry.exportName)} from [${entry.source}](../../${entry.source}): ${states} states, ${graph.edges.length} transitions.`,
    '',
    '```mermaid',
    toMermaid(entry.machine).trimEnd(),
    '```',
    '',
    'Labels: `EVENT [guard]`; `always` is an eventless transition, `after <delay>` a delayed one, ' +
      '`done: <actor>` / `error: <actor>` the end of an invoked actor. Notes list invoked actors, transitions ' +
      'that run actions without leaving the state (`internal`), and those the machine takes in every state.',
    '',
    '## States',
    '',
    ...stateRows(graph),
    '',
    '## Events',
    '',
    ...eventRows(graph),
    '',
  ];
  return lines.join('\n');
}

/** The index page listing every machine. */
export function renderIndex(entries: readonly MachineEntry[]): string {
  const lines = [
    '<!-- Generated by `npm run diagrams`. Do not edit: run `npm run diagrams` again. -->',
    '',
    '# Statecharts',
    '',
    'One page per statechart exported from `machines/`, generated from the machine definitions by ' +
      '`npm run diagrams` (see [../inspection.md](../inspection.md)). A test fails when a page is out of date.',
    '',
    '| Machine | Export | Source | States | Transitions |',
    '|---|---|---|---|---|',
  ];
  for (const entry of entries) {
    const graph = toGraph(entry.machine);
    lines.push(
      `| [${entry.id}](${entry.id}.md) | ${code(entry.exportName)} | ${code(entry.source)} | ${graph.nodes.length - 1} | ${graph.edges.length} |`,
    );
  }
  lines.push('');
  return lines.join('\n');
}

/** Every page, by file name (`task.md`, …, `README.md`), generated in memory. */
export async function renderDiagrams(dir: URL = MACHINES_DIR): Promise<Map<string, string>> {
  const entries = await loadMachines(dir);
  const pages = new Map<string, string>();
  for (const entry of entries) pages.set(`${entry.id}.md`, renderDiagram(entry));
  pages.set('README.md', renderIndex(entries));
  return pages;
}

/** Marks the generated statechart section of a hand-written page (e.g. docs/architecture.md). */
export const EMBED_BEGIN = '<!-- statecharts:begin (generated by `npm run diagrams`) -->';
/** Ends the generated section. */
export const EMBED_END = '<!-- statecharts:end -->';

/** The section embedded in pages that carry the markers: one heading and one diagram per machine. */
export async function renderEmbeddedSection(dir: URL = MACHINES_DIR): Promise<string> {
  const lines = [EMBED_BEGIN, ''];
  for (const entry of await loadMachines(dir)) {
    lines.push(`### ${title(entry.id)}`, '', '```mermaid', toMermaid(entry.machine).trimEnd(), '```', '');
  }
  lines.push(EMBED_END);
  return lines.join('\n');
}

/** `text` with its generated section replaced by `section`; unchanged when it has no markers. */
export function withEmbeddedSection(text: string, section: string): string {
  const begin = text.indexOf(EMBED_BEGIN);
  const end = text.indexOf(EMBED_END);
  if (begin < 0 || end < begin) return text;
  return text.slice(0, begin) + section + text.slice(end + EMBED_END.length);
}

/** A file's text, or `undefined` when it does not exist. */
function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The hand-written pages beside `outDir` that embed the diagrams (`../architecture.md`). */
function embeddingPages(outDir: string): string[] {
  return [join(outDir, '..', 'architecture.md')];
}

/** Writes every page into `outDir` (created if missing) and refreshes embedding pages; returns the paths written. */
export async function writeDiagrams(outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, text] of await renderDiagrams()) {
    const path = join(outDir, name);
    writeFileSync(path, text);
    written.push(path);
  }
  const section = await renderEmbeddedSection();
  for (const page of embeddingPages(outDir)) {
    const text = readIfPresent(page);
    if (text === undefined) continue;
    const updated = withEmbeddedSection(text, section);
    if (updated !== text) {
      writeFileSync(page, updated);
      written.push(page);
    }
  }
  return written;
}

/** Pages in `outDir` that differ from what would be generated now (missing, changed, or left over). */
export async function staleDiagrams(outDir: string): Promise<string[]> {
  const pages = await renderDiagrams();
  let present: string[] = [];
  try {
    present = readdirSync(outDir).filter((file) => file.endsWith('.md'));
  } catch {
    present = [];
  }
  const stale: string[] = [];
  for (const [name, text] of pages) {
    if (readIfPresent(join(outDir, name)) !== text) stale.push(name);
  }
  for (const name of present) if (!pages.has(name)) stale.push(name);
  const section = await renderEmbeddedSection();
  for (const page of embeddingPages(outDir)) {
    const text = readIfPresent(page);
    if (text !== undefined && withEmbeddedSection(text, section) !== text) stale.push(page);
  }
  return stale.sort();
}
