/**
 * Skill tools: list, inspect and run the pool's skills.
 */
import { z } from 'zod';
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
        'Render a skill with its arguments and run it on the next idle slot (the skill\'s config plus these overrides). ' +
        'Returns the TaskResult. Errors: not_found (unknown skill), invalid_input (missing or unknown arguments). With a progressToken, ' +
        'streamed output is sent as progress.',
      input: {
        skill: z.string().min(1).describe('Skill name (see pool_skill_list)'),
        arguments: z.record(z.string(), z.string()).default({}).describe('Skill arguments by name'),
        ...overrideParams,
        tags: tagsParam.optional(),
      },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { pool, progress, signal }) {
        const counted = progress.enabled ? new CountedProgress(progress, 1) : undefined;
        counted?.start(`skill ${args.skill} submitted`);
        const result = await pool.runSkill(args.skill, args.arguments, {
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
        scope: z.enum(SKILL_SCOPES as [string, ...string[]]).optional().describe(`Skill scope: ${SKILL_SCOPES.join(', ')}`),
        source: z.enum(SKILL_SOURCES as [string, ...string[]]).optional().describe(`Skill source: ${SKILL_SOURCES.join(', ')}`),
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
      description: 'One skill in full: {name, description, prompt, arguments, scope, source, argument_hint, config}.',
      input: { name: z.string().min(1).describe('Skill name') },
      annotations: { readOnlyHint: true },
      run(args, { pool }) {
        const entry = pool.skills.entry(args.name);
        if (entry === undefined) throw new ToolError('not_found', `skill '${args.name}' not found`);
        return { ...wireSkillSummary(entry), prompt: entry.skill.prompt, config: entry.skill.config ? wireObject(entry.skill.config) : null };
      },
    }),
  ];
}
