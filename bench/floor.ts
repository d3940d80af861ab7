/**
 * The structural floor of an engine in which every task is an XState actor: a supervisor with slot children
 * and, per task, a task actor (created in the system, assigned, finished, done), a slot taking the run and
 * reporting back, and a runner that answers at once. No records, no store, no projection, no budget, no
 * streams: the least any engine of this shape can cost per task on this machine, with this XState.
 *
 * The benchmarks report the pool's per-task time against it, measured in the same run.
 */
import { createActor, enqueueActions, fromCallback, sendParent, setup, type AnyActorRef } from 'xstate';

/** A task: Pending → Running → Done. */
const floorTask = setup({ types: { events: {} as { type: 'ASSIGN' } | { type: 'FINISH' } } }).createMachine({
  id: 'task',
  initial: 'pending',
  states: {
    pending: { on: { ASSIGN: 'running' } },
    running: { on: { FINISH: 'done' } },
    done: { type: 'final' },
  },
});

/** A runner that answers on the next microtask. */
const floorAgent = fromCallback(({ sendBack }) => {
  queueMicrotask(() => sendBack({ type: 'DONE' }));
});

/** A slot: Idle ⇄ Busy, invoking the runner while busy. */
const floorSlot = setup({
  types: {
    context: {} as { id: string; taskId: string },
    input: {} as { id: string },
    events: {} as { type: 'RUN'; taskId: string } | { type: 'DONE' },
  },
  actors: { agent: floorAgent },
}).createMachine({
  id: 'slot',
  context: ({ input }) => ({ id: input.id, taskId: '' }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        RUN: {
          target: 'busy',
          actions: enqueueActions(({ enqueue, event }) => enqueue.assign({ taskId: event.taskId })),
        },
      },
    },
    busy: {
      invoke: { src: 'agent' },
      on: {
        DONE: {
          target: 'idle',
          actions: sendParent(({ context }) => ({ type: 'FINISHED', slotId: context.id, taskId: context.taskId })),
        },
      },
    },
  },
});

type FloorEvent = { type: 'SUBMIT'; taskId: string } | { type: 'FINISHED'; slotId: string; taskId: string };

/** Runs `count` tasks through the floor engine on `slots` slots; resolves once every task has finished. */
export function runFloor(count: number, slots: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    const supervisor = setup({
      types: {
        context: {} as { slots: Record<string, AnyActorRef>; idle: string[]; queue: string[]; head: number },
        events: {} as FloorEvent,
      },
      actors: { slot: floorSlot },
    }).createMachine({
      id: 'floor',
      context: ({ spawn }) => {
        const ids = Array.from({ length: slots }, (_, i) => `slot-${i}`);
        return {
          slots: Object.fromEntries(ids.map((id) => [id, spawn('slot', { id, input: { id } })])),
          idle: ids,
          queue: [],
          head: 0,
        };
      },
      on: {
        SUBMIT: {
          actions: enqueueActions(({ context, event, enqueue, self, system }) => {
            createActor(floorTask, { parent: self, id: 'task', systemId: event.taskId }).start();
            context.queue.push(event.taskId);
            dispatch(context, enqueue, system);
          }),
        },
        FINISHED: {
          actions: enqueueActions(({ context, event, enqueue, system }) => {
            const task = system.get(event.taskId) as AnyActorRef | undefined;
            if (task) enqueue.sendTo(task, { type: 'FINISH' });
            context.idle.push(event.slotId);
            dispatch(context, enqueue, system);
            if (--left === 0) resolve();
          }),
        },
      },
    });
    const actor = createActor(supervisor).start();
    for (let i = 0; i < count; i++) actor.send({ type: 'SUBMIT', taskId: `task-${i}` });
  });
}

/** Starts queued tasks on idle slots (the context is mutated in place: this is a floor, not a design). */
function dispatch(
  context: { slots: Record<string, AnyActorRef>; idle: string[]; queue: string[]; head: number },
  enqueue: { sendTo(target: AnyActorRef, event: { type: string; taskId?: string }): void },
  system: { get(id: string): unknown },
): void {
  while (context.idle.length > 0 && context.head < context.queue.length) {
    const taskId = context.queue[context.head++];
    const slotId = context.idle.pop() as string;
    enqueue.sendTo(system.get(taskId) as AnyActorRef, { type: 'ASSIGN' });
    enqueue.sendTo(context.slots[slotId], { type: 'RUN', taskId });
  }
}
