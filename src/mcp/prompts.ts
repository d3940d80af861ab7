/**
 * One MCP prompt per skill (`prompts/list`, `prompts/get`), kept in step with the skill registry: a skill
 * added, replaced or removed at run time changes the prompt list, and clients are told with
 * `notifications/prompts/list_changed`.
 */
import type { McpServer, RegisteredPrompt } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, type GetPromptResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { SkillRegistry } from '../skills/registry.js';
import type { Skill } from '../skills/skill.js';

/** The prompt's arguments: a skill's required argument without default is required, the rest optional. */
function argumentShape(skill: Skill): Record<string, z.ZodType<string | undefined>> {
  const shape: Record<string, z.ZodType<string | undefined>> = {};
  for (const arg of skill.arguments) {
    const description = arg.description || arg.name;
    shape[arg.name] =
      arg.required && arg.default === undefined
        ? z.string().describe(description)
        : z.string().optional().describe(description);
  }
  return shape;
}

function describe(skill: Skill): string {
  const hint = skill.argumentHint ? ` Arguments: ${skill.argumentHint}` : '';
  return `${skill.description}${hint} (skill, scope ${skill.scope})`;
}

/**
 * Registers a prompt for every skill of `skills` and follows the registry from then on. The prompt renders
 * the skill with the full rendering rules (so `` !`cmd` `` runs only when the registry allows it) into one
 * user message. Returns a function that stops following the registry.
 */
export function registerSkillPrompts(server: McpServer, skills: SkillRegistry): () => void {
  const prompts = new Map<string, RegisteredPrompt>();
  const render =
    (name: string) =>
    (args: Record<string, string | undefined>): GetPromptResult => {
      const given: Record<string, string> = {};
      for (const [key, value] of Object.entries(args)) if (value !== undefined) given[key] = value;
      let text: string;
      try {
        text = skills.render(name, given);
      } catch (error) {
        throw new McpError(ErrorCode.InvalidParams, error instanceof Error ? error.message : String(error));
      }
      return {
        description: skills.get(name)?.description,
        messages: [{ role: 'user', content: { type: 'text', text } }],
      };
    };
  const upsert = (skill: Skill) => {
    const existing = prompts.get(skill.name);
    if (existing) {
      existing.update({ description: describe(skill), argsSchema: argumentShape(skill), callback: render(skill.name) });
      return;
    }
    prompts.set(
      skill.name,
      server.registerPrompt(
        skill.name,
        { title: skill.name, description: describe(skill), argsSchema: argumentShape(skill) },
        render(skill.name),
      ),
    );
  };
  for (const entry of skills.list()) upsert(entry.skill);
  return skills.onChange((change) => {
    if (change.type === 'registered') {
      upsert(change.entry.skill);
      return;
    }
    prompts.get(change.name)?.remove();
    prompts.delete(change.name);
  });
}
