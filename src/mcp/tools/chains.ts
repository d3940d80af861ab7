/**
 * Chain and workflow tools: submit, run, fan out, follow and cancel chains; list and invoke workflows.
 * Also the `pool://chains/{chain_id}` resource.
 */
import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { ChainProgress, ChainResult, TaskId } from '../../../machines/types.js';
import { lastValueFrom, tap } from 'rxjs';
import type { ChainFront } from '../../pool/chain-front.js';
import { describeError } from '../errors.js';
import { chainStepParam, isolationParam, tagsParam, taskIdParam, toChainOptions, toChainStep } from '../params.js';
import { CountedProgress, defineTool, type PoolTool, type ProgressReporter } from '../tool.js';
import { wireObject, wireStep, type WireObject } from '../wire.js';

const usd = (micro: number) => `$${(micro / 1e6).toFixed(4)}`;

/**
 * Waits for a chain to finish. With progress enabled, reports progress = finished steps / total steps and
 * streams the current step's partial output in the messages, as the chain's progress changes.
 */
export async function followChain(chains: ChainFront, id: TaskId, progress: ProgressReporter): Promise<ChainResult> {
  const finished = chains.waitForChain(id);
  if (!progress.enabled) return finished;
  let counted: CountedProgress | undefined;
  let reportedSteps = 0;
  let currentStep: number | undefined;
  let partialLength = 0;
  const report = (now: ChainProgress) => {
    if (!counted) {
      counted = new CountedProgress(progress, now.totalSteps);
      counted.start(`chain ${id} running`);
    }
    while (reportedSteps < now.completedSteps.length) {
      const step = now.completedSteps[reportedSteps];
      reportedSteps += 1;
      const status = step.skipped ? 'skipped' : step.success ? 'done' : 'failed';
      counted.done(`step ${step.name} ${status}, ${usd(step.costMicrodollars)} (${reportedSteps}/${now.totalSteps})`);
    }
    if (now.currentStep !== currentStep) {
      currentStep = now.currentStep;
      partialLength = 0;
    }
    const partial = now.currentStepPartialOutput ?? '';
    if (partial.length > partialLength) {
      counted.text(`[${now.currentStepName ?? currentStep ?? ''}]`, partial.slice(partialLength));
      partialLength = partial.length;
    }
  };
  // The current progress first, then each change until the chain has ended.
  const followed = lastValueFrom(chains.progress$(id).pipe(tap(report)), { defaultValue: undefined });
  const [result] = await Promise.all([finished, followed]);
  return result;
}

/** A chain's progress, plus its result once it has finished. */
async function chainReport(chains: ChainFront, id: TaskId): Promise<WireObject> {
  const progress = await chains.progress(id);
  const body: WireObject = { task_id: id, ...wireObject(progress) };
  if (progress.status !== 'running') body.result = wireObject(await chains.waitForChain(id));
  return body;
}

const stepsParam = z.array(chainStepParam).min(1).describe('The steps, run in order');

/** The chain and workflow tools. */
export function chainTools(): PoolTool[] {
  return [
    defineTool({
      name: 'pool_submit_chain',
      title: 'Submit a chain',
      description:
        'Start a chain of steps in the background and return {task_id, total_steps} (a chain-… id). Each step is ' +
        '{name, type:"prompt"|"skill", value, arguments?, model?, effort?, retries?, recovery_prompt?, output_vars?}; a step ' +
        'sees {previous_output} and {steps.NAME.VAR}. Follow it with pool_chain_result.',
      input: { steps: stepsParam, tags: tagsParam.optional(), isolation: isolationParam.optional() },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { chains }) {
        const id = await chains.submitChain(args.steps.map(toChainStep), toChainOptions(args));
        return { task_id: id, total_steps: args.steps.length };
      },
    }),
    defineTool({
      name: 'pool_chain',
      title: 'Run a chain and wait',
      description:
        'Run a chain of steps and wait for it. Returns {task_id, result: ChainResult {steps, final_output, ' +
        'total_cost_microdollars, success}}. With a progressToken, progress = finished steps / total and the message ' +
        "carries the current step's output.",
      input: { steps: stepsParam, tags: tagsParam.optional(), isolation: isolationParam.optional() },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { chains, progress }) {
        const id = await chains.submitChain(args.steps.map(toChainStep), toChainOptions(args));
        const result = await followChain(chains, id, progress);
        return { task_id: id, result: wireObject(result) };
      },
    }),
    defineTool({
      name: 'pool_fan_out_chains',
      title: 'Start several chains',
      description:
        'Start several chains in parallel. Returns {chains:[{task_id}|{error:{code,message}}…] in input order, task_ids}.',
      input: {
        chains: z.array(stepsParam).min(1).describe('One list of steps per chain'),
        tags: tagsParam.optional(),
        isolation: isolationParam.optional(),
      },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { chains }) {
        const outcomes = await chains.fanOutChains(
          args.chains.map((steps) => steps.map(toChainStep)),
          toChainOptions(args),
        );
        const started = outcomes.map((outcome) =>
          'chainId' in outcome ? { task_id: outcome.chainId } : { error: outcome.error },
        );
        const taskIds = outcomes.flatMap((outcome) => ('chainId' in outcome ? [outcome.chainId] : []));
        return { chains: started, task_ids: taskIds };
      },
    }),
    defineTool({
      name: 'pool_chain_result',
      title: 'Chain progress and result',
      description:
        "A chain's progress {task_id, total_steps, current_step, current_step_name, current_step_partial_output, " +
        'completed_steps, status (running, completed, failed, cancelled)}, plus result (ChainResult) once it has finished. ' +
        'With wait:true it waits for the end (sending progress notifications when asked). task_not_found for unknown ids.',
      input: { task_id: taskIdParam, wait: z.boolean().optional().describe('Wait until the chain has finished') },
      annotations: { readOnlyHint: true },
      async run(args, { chains, progress }) {
        if (args.wait && (await chains.progress(args.task_id)).status === 'running') {
          await followChain(chains, args.task_id, progress);
        }
        return chainReport(chains, args.task_id);
      },
    }),
    defineTool({
      name: 'pool_list_chains',
      title: 'List chains',
      description: 'Progress of every chain: {chains:[ChainProgress…], count}, optionally only those with this status.',
      input: {
        status: z
          .enum(['running', 'completed', 'failed', 'cancelled'])
          .optional()
          .describe('Only chains with this status'),
      },
      annotations: { readOnlyHint: true },
      async run(args, { chains }) {
        const listed = (await chains.listProgress()).filter(
          (p) => args.status === undefined || p.status === args.status,
        );
        return { chains: listed.map((p) => ({ task_id: p.chainId, ...wireObject(p) })), count: listed.length };
      },
    }),
    defineTool({
      name: 'pool_cancel_chain',
      title: 'Cancel a chain',
      description:
        'Cancel a chain: the current step finishes and the remaining steps are skipped; immediate:true also kills the ' +
        'current step. Returns {status:"cancellation_requested", task_id}.',
      input: { task_id: taskIdParam, immediate: z.boolean().optional().describe('Also kill the running step') },
      annotations: { destructiveHint: true, idempotentHint: true },
      async run(args, { chains }) {
        await chains.cancelChain(
          args.task_id,
          args.immediate === undefined ? undefined : { immediate: args.immediate },
        );
        return { status: 'cancellation_requested', task_id: args.task_id };
      },
    }),
    defineTool({
      name: 'pool_invoke_workflow',
      title: 'Start a workflow',
      description:
        'Instantiate a named workflow with its arguments and start it as a chain. Returns {task_id, workflow}. Errors: ' +
        'not_found (unknown workflow), invalid_input (missing or unknown arguments). Follow it with pool_chain_result.',
      input: {
        workflow: z.string().min(1).describe('Workflow name (see pool_workflow_list)'),
        arguments: z.record(z.string(), z.string()).default({}).describe('Workflow arguments by name'),
        tags: tagsParam.optional(),
        isolation: isolationParam.optional(),
      },
      annotations: { destructiveHint: false, openWorldHint: true },
      async run(args, { chains }) {
        const id = await chains.runWorkflow(args.workflow, args.arguments, toChainOptions(args));
        return { task_id: id, workflow: args.workflow };
      },
    }),
    defineTool({
      name: 'pool_workflow_list',
      title: 'List workflows',
      description:
        'Registered workflows sorted by name: {workflows:[{name, description, arguments, steps:[{name, type, value, …}]}], count}.',
      input: {},
      annotations: { readOnlyHint: true },
      run(_args, { pool }) {
        const workflows = pool.workflows.list();
        return {
          workflows: workflows.map((w) => ({
            name: w.name,
            description: w.description,
            arguments: w.arguments,
            steps: w.steps.map(wireStep),
          })),
          count: workflows.length,
        };
      },
    }),
  ];
}

/** Registers `pool://chains/{chain_id}`: a chain's progress, plus its result once finished. */
export function registerChainResources(server: McpServer, chains: ChainFront): void {
  server.registerResource(
    'chain',
    new ResourceTemplate('pool://chains/{chain_id}', {
      list: async () => ({
        resources: (await chains.listProgress()).map((p) => ({
          uri: `pool://chains/${p.chainId}`,
          name: p.chainId,
          mimeType: 'application/json',
        })),
      }),
    }),
    { title: 'Chain', description: "A chain's progress and, once finished, its result", mimeType: 'application/json' },
    async (uri, variables) => {
      const id = String(variables.chain_id);
      let body: WireObject;
      try {
        body = await chainReport(chains, id);
      } catch (error) {
        body = { error: describeError(error) };
      }
      return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(body, null, 2) }] };
    },
  );
}
