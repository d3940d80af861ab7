/**
 * A value kept in Redis and its published changes, as one stream: the current value, then every change. The
 * changes are listened to before the current value is read, so none made in between is missed; a change the
 * read already saw is not sent twice.
 */
import { Observable } from 'rxjs';

/** Emits what `current` reads, then every value of `changes` after it (erroring when the read fails). */
export function currentThenChanges<T>(changes: Observable<T>, current: () => Promise<T>): Observable<T> {
  return new Observable<T>((subscriber) => {
    const buffered: T[] = [];
    let ready = false;
    const subscription = changes.subscribe((value) => {
      if (ready) subscriber.next(value);
      else buffered.push(value);
    });
    current().then(
      (value) => {
        subscriber.next(value);
        // Changes published before the read answered: only those that came after what it read.
        const seen = buffered.findIndex((later) => JSON.stringify(later) === JSON.stringify(value));
        for (const later of buffered.slice(seen + 1)) subscriber.next(later);
        ready = true;
      },
      (error: unknown) => subscriber.error(error),
    );
    return () => subscription.unsubscribe();
  });
}
