/**
 * Skill tools: list, inspect and run the pool's skills.
 */
import { z } from 'zod';
import { BUILTIN_SKILLS } from '../../skills/builtins.js';
import { ejectSkill, saveSkill } from '../../skills/save.js';
import { SKILL_SCOPES, SKILL_SOURCES, type RegisteredSkill } from '../../skills/skill.js';
import { ToolError } from '../errors.js';
import { overrideParams, tagsParam, toOverrides } from '../params.js';
import { CountedProgress, defineTool, type PoolTool } from '../tool.js';
import { wireObject, wireResult, type WireObject } from '../wire.js';
import { resultLine } from './tasks.js';

function wireSkillSummary(entry: RegisteredSkill): WireObject {
  return wireObject({
    name: entry.skill.name,
    description: entry.skill.description,
    scope: entry.skill.scope,
    source: entry.source,
    argumentHint: entry.skill.argumentHint,
    arguments: entry.skill.arguments,
  });
}

/** The skill tools. */
export function skillTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_skill_run',
      title: 'Run a skill',
      description:
        "Render a skill with its arguments and run it on the next idle slot (the skill's config plus these overrides). " +
        'Returns the TaskResult. Errors: not_found (unknown skill), invalid_input (missing or unknown arguments). With a progressToken, ' +
        'streamed output is sent as progress.',
      input: {
        skill: z.string().min(1).describe('Skill name (see pool_skill_list)'),
        arguments: z.record(z.string(), z.string()).default({}).describe('Skill arguments by name'),
        ...overrideParams,
        tags: tagsParam.optional(),
      },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { tasks, progress, signal }) {
        const counted = progress.enabled ? new CountedProgress(progress, 1) : undefined;
        counted?.start(`skill ${args.skill} submitted`);
        const result = await tasks.runSkill(args.skill, args.arguments, {
          config: toOverrides(args),
          tags: args.tags,
          signal,
          ...(counted ? { onOutput: (text: string) => counted.text('', text) } : {}),
        });
        counted?.done(resultLine(`skill ${args.skill}`, result));
        return wireResult(result);
      },
    }),
    defineTool({
      name: 'pool_skill_list',
      title: 'List skills',
      description:
        'Registered skills sorted by name, optionally filtered by scope and source: ' +
        '{skills:[{name, description, scope, source, argument_hint, arguments}], count}.',
      input: {
        scope: z
          .enum(SKILL_SCOPES as [string, ...string[]])
          .optional()
          .describe(`Skill scope: ${SKILL_SCOPES.join(', ')}`),
        source: z
          .enum(SKILL_SOURCES as [string, ...string[]])
          .optional()
          .describe(`Skill source: ${SKILL_SOURCES.join(', ')}`),
      },
      annotations: { readOnlyHint: true },
      run(args, { pool }) {
        const skills = pool.skills.list({
          ...(args.scope ? { scope: args.scope as RegisteredSkill['skill']['scope'] } : {}),
          ...(args.source ? { source: args.source as RegisteredSkill['source'] } : {}),
        });
        return { skills: skills.map(wireSkillSummary), count: skills.length };
      },
    }),
    defineTool({
      name: 'pool_skill_get',
      title: 'Get a skill',
      description:
        'One skill in full: {name, description, prompt, arguments, scope, source, argument_hint, customized (a built-in name ' +
        'loaded from another source), config}.',
      input: { name: z.string().min(1).describe('Skill name') },
      annotations: { readOnlyHint: true },
      run(args, { pool }) {
        const entry = pool.skills.entry(args.name);
        if (entry === undefined) throw new ToolError('not_found', `skill '${args.name}' not found`);
        const customized = entry.source !== 'builtin' && BUILTIN_SKILLS.some((b) => b.name === entry.skill.name);
        return {
          ...wireSkillSummary(entry),
          prompt: entry.skill.prompt,
          customized,
          config: entry.skill.config ? wireObject(entry.skill.config) : null,
        };
      },
    }),
    defineTool({
      name: 'pool_skill_add',
      title: 'Add a skill',
      description:
        'Register a skill for this server (in memory), replacing one of the same name. `prompt` is a template with ' +
        '{argument} placeholders. Returns {name, overwritten, source:"runtime"}; an invalid definition is a tool error ' +
        'naming the problem.',
      input: {
        name: z.string().min(1).describe('Skill name: lower case, digits, - and _'),
        description: z.string().describe('What the skill does'),
        prompt: z.string().min(1).describe('The prompt template, with {argument} placeholders'),
        arguments: z
          .array(
            z.object({
              name: z.string().min(1),
              description: z.string().default(''),
              required: z.boolean().default(false),
              default: z.string().optional(),
            }),
          )
          .default([])
          .describe('The arguments the template takes'),
        scope: z
          .enum(SKILL_SCOPES)
          .optional()
          .describe('task, coordinator or chain (default: from the name, cps-coordinator… / cps-chain…, else task)'),
        config: z
          .record(z.string(), z.unknown())
          .optional()
          .describe('Task overrides the skill runs with (model, max_turns, …)'),
      },
      annotations: { destructiveHint: false },
      run(args, { pool }) {
        const overwritten = pool.skills.has(args.name);
        try {
          pool.skills.register(
            {
              name: args.name,
              description: args.description,
              prompt: args.prompt,
              arguments: args.arguments,
              ...(args.scope ? { scope: args.scope } : {}),
              ...(args.config ? { config: args.config } : {}),
            },
            'runtime',
          );
        } catch (error) {
          throw new ToolError('invalid_input', error instanceof Error ? error.message : String(error));
        }
        return { name: args.name, overwritten, source: 'runtime' };
      },
    }),
    defineTool({
      name: 'pool_skill_remove',
      title: 'Remove a skill',
      description:
        'Remove a skill from this server (in memory). Returns {removed:true}; an unknown name is a not_found error.',
      input: { name: z.string().min(1).describe('Skill name') },
      annotations: { destructiveHint: true },
      run(args, { pool }) {
        if (!pool.skills.remove(args.name)) throw new ToolError('not_found', `skill '${args.name}' not found`);
        return { removed: true, name: args.name };
      },
    }),
    defineTool({
      name: 'pool_skill_save',
      title: 'Save a skill as SKILL.md',
      description:
        'Write a registered skill to {dir or the project skills folder}/{name}/SKILL.md (frontmatter: name, description, ' +
        'argument-hint, metadata.scope/arguments/config; then the prompt) and register it again with source project. ' +
        'Returns {saved:true, name, path, format:"SKILL.md", source:"project"}. Errors: not_found, invalid_input (no folder).',
      input: {
        name: z.string().min(1).describe('Skill name'),
        dir: z.string().min(1).optional().describe("Skills folder to write into (default: the server's --skills-dir)"),
      },
      annotations: { destructiveHint: false, idempotentHint: true },
      async run(args, { pool }) {
        const saved = await saveSkill(pool.skills, args.name, args.dir ? { dir: args.dir } : {});
        return { saved: true, name: args.name, path: saved.path, format: 'SKILL.md', source: 'project' };
      },
    }),
    defineTool({
      name: 'pool_skill_eject',
      title: 'Eject a built-in skill',
      description:
        'Copy a built-in skill to {dir or the project skills folder}/{name}/SKILL.md so that it can be edited; the copy ' +
        'is registered with source project and overrides the built-in (also on the next start). Returns {ejected:true, ' +
        'name, path, hint}. Only built-ins can be ejected (invalid_input otherwise).',
      input: {
        name: z.string().min(1).describe('Built-in skill name'),
        dir: z.string().min(1).optional().describe("Skills folder to write into (default: the server's --skills-dir)"),
      },
      annotations: { destructiveHint: false },
      async run(args, { pool }) {
        const saved = await ejectSkill(pool.skills, args.name, args.dir ? { dir: args.dir } : {});
        return {
          ejected: true,
          name: args.name,
          path: saved.path,
          hint: `Edit ${saved.path}; it now overrides the built-in ${args.name}.`,
        };
      },
    }),
  ];
}
