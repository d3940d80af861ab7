/**
 * Auto-routing: ask a router model whether a task runs as one prompt, parallel prompts or a chain, then
 * run it that way; and the route-test harness that measures the router's accuracy.
 */
export * from './types.js';
export { ROUTER_PROMPT, buildRoutingPrompt, constraintLines } from './prompt.js';
export { RouteParseError, extractRoute, validateRoute, type ExtractedRoute } from './parse.js';
export {
  ROUTING_TAG,
  ROUTING_TASK_CONFIG,
  RouteError,
  auto,
  chainStepsOf,
  executeRoute,
  parallelOutput,
  route,
  type AutoOptions,
  type RouteOptions,
  type RoutingPool,
} from './route.js';
export {
  RouteTestCaseError,
  formatRouteTestReport,
  parseRouteTestCases,
  runRouteTest,
  type RouteTestCase,
  type RouteTestOutcome,
  type RouteTestReport,
} from './harness.js';
