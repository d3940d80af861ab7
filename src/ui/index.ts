/**
 * The pool's live web page: slots, statecharts with each actor's current state, queue, timeline, reviews and
 * budget, updated over server-sent events from the pool's RxJS streams.
 */
export { serveUi, uiPageUrl, type UiServerOptions, type UiServing } from './serve.js';
export { UiFeed, activeNodes, type UiFeedOptions, type UiMessage } from './feed.js';
export { poolCharts, layoutGraph } from './charts.js';
export { UiNotBuiltError } from './assets.js';
export type * from './protocol.js';
