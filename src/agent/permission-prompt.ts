/**
 * Recognising a run that stopped at a tool-permission prompt (an interactive question the CLI printed on
 * stderr), so the caller gets `PermissionPromptDetected` naming the tool instead of a bare crash.
 *
 * The patterns are narrower than the reference's (which matched any stderr containing "permission" or
 * "approve"): a question about a tool, or a yes/no prompt.
 */

const QUESTION =
  /^Allow\s+(\S+?)[\s?]|wants to use\s+(\S+?)[.,?\s]|\b(?:Do you want to (?:allow|proceed|run))\b|\((?:y\/n|yes\/no)\)|\[(?:y\/n|Y\/n)\]/m;

/** The tool a permission prompt in `stderr` asks about (`unknown` when it names none), or `undefined`. */
export function detectPermissionPrompt(stderr: string | undefined): string | undefined {
  if (!stderr) return undefined;
  const match = QUESTION.exec(stderr);
  if (!match) return undefined;
  const tool = (match[1] ?? match[2] ?? '').replace(/[?.,]+$/, '');
  return tool === '' ? 'unknown' : tool;
}

/** The failure text of a detected prompt (the same text `PermissionPromptDetected` carries). */
export function permissionPromptMessage(toolName: string): string {
  return `permission prompt detected: ${toolName}. Add it to allowed_tools or use a broader permission mode`;
}
