/**
 * The OpenAPI 3.1 document of the REST API, generated from the route declarations and their zod schemas
 * (`z.toJSONSchema`, input side: what a client sends).
 */
import { z } from 'zod';
import { packageVersion } from '../mcp/version.js';
import type { RestRoute } from './route.js';

type JsonObject = Record<string, unknown>;

function jsonSchema(schema: z.ZodType): JsonObject {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonObject;
  return rest;
}

const PROBLEM_SCHEMA: JsonObject = {
  type: 'object',
  description: 'RFC 9457 problem details (application/problem+json)',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', description: 'urn:claude-pool:error:{code with dashes}' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string', description: 'The stable error code (task_not_found, budget_exhausted, …)' },
  },
};

function problemResponse(description: string): JsonObject {
  return { description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
}

function operation(route: RestRoute): JsonObject {
  const parameters: JsonObject[] = [];
  for (const match of route.path.matchAll(/\{([^}]+)\}/g)) {
    parameters.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } });
  }
  if (route.query) {
    const schema = jsonSchema(route.query);
    const properties = (schema.properties ?? {}) as Record<string, JsonObject>;
    const required = new Set((schema.required ?? []) as string[]);
    for (const [name, property] of Object.entries(properties)) {
      parameters.push({
        name,
        in: 'query',
        required: required.has(name) && property.default === undefined,
        ...(typeof property.description === 'string' ? { description: property.description } : {}),
        schema: property,
      });
    }
  }
  const responses: JsonObject = {};
  if (route.status === 204) responses['204'] = { description: 'Done' };
  else if (route.stream)
    responses[String(route.status)] = {
      description: 'An event stream',
      content: { 'text/event-stream': { schema: { type: 'string' } } },
    };
  else
    responses[String(route.status)] = {
      description: 'Success',
      content: { 'application/json': { schema: { type: 'object' } } },
    };
  responses['400'] = problemResponse('Invalid input');
  responses['401'] = problemResponse('Missing or invalid bearer token');
  if (route.path.includes('{')) responses['404'] = problemResponse('Not found');
  if (route.method !== 'get')
    responses['409'] = problemResponse('Conflict (pool shut down, budget exhausted, wrong task state, scale limit, …)');
  responses['429'] = problemResponse('Too many concurrent requests');
  responses.default = problemResponse('Error');
  return {
    summary: route.summary,
    operationId: `${route.method}${route.path.replace(/\{([^}]+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? '').toUpperCase())}`,
    ...(route.tool ? { description: `MCP counterpart: ${route.tool}` } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } }
      : {}),
    responses,
  };
}

/** Builds the OpenAPI document of these routes. */
export function openApiDocument(routes: readonly RestRoute[]): JsonObject {
  const paths: Record<string, JsonObject> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    paths[route.path][route.method] = operation(route);
  }
  paths['/health'] = {
    get: {
      summary: 'Liveness (no authentication): text ok',
      security: [],
      responses: { '200': { description: 'ok', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'claude-pool REST API', version: packageVersion() },
    security: [{ bearerAuth: [] }],
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas: { Problem: PROBLEM_SCHEMA },
    },
    paths,
  };
}
