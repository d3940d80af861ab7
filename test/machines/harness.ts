/**
 * Test support: runs a child statechart under a parent that records every event the child sends it.
 */
import {
  createActor,
  createMachine,
  SimulatedClock,
  type Actor,
  type AnyActorLogic,
  type AnyEventObject,
  type InputFrom,
} from 'xstate';

/** A started child actor, the events it sent its parent, and the simulated clock its timers run on. */
export interface UnderParent<TLogic extends AnyActorLogic> {
  child: Actor<TLogic>;
  /** What the child sent (XState's own `xstate.*` events left out). */
  sent: AnyEventObject[];
  clock: SimulatedClock;
  /** The events of the given type the child sent. */
  sentOf(type: string): AnyEventObject[];
}

/** Starts `logic` as the child `child` of a parent that records what the child sends (timers on a simulated clock). */
export function underParent<TLogic extends AnyActorLogic>(
  logic: TLogic,
  input: InputFrom<TLogic>,
): UnderParent<TLogic> {
  const sent: AnyEventObject[] = [];
  const parent = createMachine({
    invoke: { id: 'child', src: logic, input },
    on: { '*': { actions: ({ event }) => void (event.type.startsWith('xstate.') || sent.push(event)) } },
  });
  const clock = new SimulatedClock();
  const actor = createActor(parent, { clock }).start();
  const child = actor.getSnapshot().children.child as Actor<TLogic>;
  return { child, sent, clock, sentOf: (type) => sent.filter((e) => e.type === type) };
}
