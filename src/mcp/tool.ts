/**
 * Tool definitions: a zod input shape, a description, annotations and a handler that gets the parsed
 * arguments and returns a plain object. The object is sent as JSON text and as `structuredContent`;
 * anything the handler throws becomes a tool error with its code.
 */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Pool } from '../pool/index.js';
import type { ChainFront } from '../pool/chain-front.js';
import type { ClusterStatus } from '../cluster/node.js';
import type { TaskFront } from '../pool/task-front.js';
import { describeError, describeZodError, ToolError, toolErrorResult } from './errors.js';
import type { WireObject } from './wire.js';

/** What the server says about itself in `pool_status` and the server info. */
export interface ServerInfo {
  /** The package version. */
  version: string;
  /** The build commit, when known (`GIT_HASH`). */
  commit?: string;
  /** The pool's default model. */
  model?: string;
  /** The pool's default permission mode. */
  permissionMode: string;
  /** Slots at startup. */
  slots: number;
  /** `simulated` or the path of the claude binary. */
  agent?: string;
}

/** Sends `notifications/progress` for the current request, when the client asked for them. */
export interface ProgressReporter {
  /** True when the request carried a `progressToken`. */
  readonly enabled: boolean;
  /**
   * Reports progress. Values never go backwards: a value not above the last one sent is raised just above
   * it (the MCP spec requires increasing progress).
   */
  report(progress: number, total?: number, message?: string): void;
  /** Resolves once every notification sent so far has been handed to the transport. */
  flush(): Promise<void>;
}

/** The cluster a served node belongs to, as its front doors report it (`claude-pool/bullmq`'s `ClusterNode`). */
export interface ClusterView {
  /** Every live node with its slots, the shared budget and the queue's counts. */
  status(): Promise<ClusterStatus>;
}

/** What a handler gets besides its arguments. */
export interface ToolContext {
  pool: Pool;
  /** Where the task tools send tasks: the pool itself, or the cluster a node belongs to. */
  tasks: TaskFront;
  /** Where the chain and workflow tools start and follow chains: the pool's, or the cluster's. */
  chains: ChainFront;
  /** The cluster this server's node belongs to; absent for a pool on its own. */
  cluster?: ClusterView;
  info: ServerInfo;
  progress: ProgressReporter;
  /** Aborted when the client cancels the request. */
  signal: AbortSignal;
}

/** A tool as written: input shape, description, annotations and handler. */
export interface ToolSpec<Shape extends z.ZodRawShape> {
  /** The tool name (`pool_run`, `context_get`, …). */
  name: string;
  /** A human-readable title. */
  title: string;
  /** What the tool does, its parameters and its response, for the coordinating model. */
  description: string;
  /** The parameters. Unknown parameters are rejected. */
  input: Shape;
  annotations?: ToolAnnotations;
  /** Does the work; returns the response object (already in wire form). */
  run(args: z.output<z.ZodObject<Shape>>, context: ToolContext): Promise<WireObject> | WireObject;
}

/** A tool ready to register: the schema and a `call` that validates, runs and formats. */
export interface PoolTool {
  name: string;
  title: string;
  description: string;
  inputSchema: z.ZodObject<z.ZodRawShape>;
  annotations?: ToolAnnotations;
  /** Validates the raw arguments, runs the handler and returns the tool result; never throws. */
  call(rawArguments: unknown, context: ToolContext): Promise<CallToolResult>;
  /**
   * Validates the raw arguments and runs the handler, returning its response object. Throws a `ToolError`
   * `invalid_input` for invalid arguments and whatever the handler throws (for other front doors, e.g. REST).
   */
  invoke(rawArguments: unknown, context: ToolContext): Promise<WireObject>;
}

/** A successful tool result: pretty JSON text and the same object as `structuredContent`. */
export function jsonResult(body: WireObject): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(body, null, 2) }], structuredContent: body };
}

/** Turns a {@link ToolSpec} into a {@link PoolTool}. */
export function defineTool<Shape extends z.ZodRawShape>(spec: ToolSpec<Shape>): PoolTool {
  const schema = z.strictObject(spec.input);
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: schema as unknown as z.ZodObject<z.ZodRawShape>,
    annotations: spec.annotations,
    async invoke(rawArguments, context) {
      const parsed = schema.safeParse(rawArguments ?? {});
      if (!parsed.success) {
        throw new ToolError('invalid_input', `invalid arguments for ${spec.name}: ${describeZodError(parsed.error)}`);
      }
      return spec.run(parsed.data, context);
    },
    async call(rawArguments, context) {
      const parsed = schema.safeParse(rawArguments ?? {});
      if (!parsed.success) {
        return toolErrorResult({
          code: 'invalid_input',
          message: `invalid arguments for ${spec.name}: ${describeZodError(parsed.error)}`,
        });
      }
      try {
        const body = await spec.run(parsed.data, context);
        await context.progress.flush();
        return jsonResult(body);
      } catch (error) {
        await context.progress.flush();
        return toolErrorResult(describeError(error));
      }
    },
  };
}

/** Pause between the last progress notification and the response (see `flush`). */
const FLUSH_PAUSE_MS = 15;

/** A progress reporter for one request (a no-op when the request has no `progressToken`). */
export function progressReporter(extra: RequestHandlerExtra<ServerRequest, ServerNotification>): ProgressReporter {
  const token = extra._meta?.progressToken;
  let last = -Infinity;
  let pending: Promise<void> = Promise.resolve();
  return {
    enabled: token !== undefined,
    report(progress, total, message) {
      if (token === undefined) return;
      let value = progress;
      if (!(value > last)) value = last + Math.max(Math.abs(last) * 1e-9, 1e-6);
      last = value;
      const notification: ServerNotification = {
        method: 'notifications/progress',
        params: {
          progressToken: token,
          progress: value,
          ...(total === undefined ? {} : { total }),
          ...(message ? { message } : {}),
        },
      };
      pending = pending.then(() => extra.sendNotification(notification)).catch(() => undefined);
    },
    async flush() {
      await pending;
      // The SDK's client handles a notification a microtask after reading it, but forgets the request's
      // progress handler as soon as it reads the response: a last notification that arrives in the same read
      // as the response is dropped. A short pause lets it arrive first.
      if (last !== -Infinity) await new Promise((resolve) => setTimeout(resolve, FLUSH_PAUSE_MS));
    },
  };
}

/**
 * Progress of `total` units of work (tasks, chain steps) that also streams text: `done()` moves to the next
 * whole number, `text()` moves a little within the current unit (never reaching the next whole number), so
 * the value always increases. The message carries the text.
 */
export class CountedProgress {
  private completed = 0;
  private chunks = 0;

  constructor(
    private readonly reporter: ProgressReporter,
    private readonly total: number,
  ) {}

  /** Reports the start (0 of total). */
  start(message: string): void {
    this.reporter.report(0, this.total, message);
  }

  /** Reports streamed text; `label` says whose it is (e.g. `[2]`). */
  text(label: string, text: string): void {
    if (!this.reporter.enabled) return;
    this.chunks += 1;
    const within = (0.99 * this.chunks) / (this.chunks + 1);
    const clipped = text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
    this.reporter.report(this.completed + within, this.total, `${label} ${clipped}`);
  }

  /** Reports one more unit done. */
  done(message: string): void {
    this.completed += 1;
    this.chunks = 0;
    this.reporter.report(this.completed, this.total, message);
  }
}
