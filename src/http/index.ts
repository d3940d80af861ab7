/**
 * The HTTP front door (`claude-pool/http`): MCP over Streamable HTTP, the REST API with SSE streams and
 * webhooks, and the OpenAPI document, on one server.
 */
export { startHttpServer, isLoopback, HttpServerError, type HttpServerOptions, type HttpServing } from './server.js';
export {
  WEBHOOK_EVENTS,
  SIGNATURE_HEADER,
  signBody,
  WebhookDispatcher,
  type Delivery,
  type DeliveryAttempt,
  type Webhook,
  type WebhookEvent,
  type WebhookInput,
  type WebhookOptions,
} from './webhooks.js';
export { PROBLEM_CONTENT_TYPE, type ProblemDetails } from './problem.js';
export { restRoutes } from './rest.js';
export { openApiDocument } from './openapi.js';
export type { RestRoute } from './route.js';
