/**
 * Waiting for a Redis connection to be ready. ioredis runs a ready check (`INFO`) on every new connection; a
 * `SUBSCRIBE` sent while that check is still out puts the connection in subscriber mode, the check then fails,
 * and the subscription is lost without an error. So a connection that will subscribe is used only once it is
 * ready.
 */
import type { Redis } from 'ioredis';

/** Resolves once the connection is ready; rejects with the first error before that. */
export function whenReady(connection: Redis): Promise<void> {
  return new Promise((resolve, reject) => {
    if (connection.status === 'ready') return resolve();
    const onReady = () => {
      connection.off('error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      connection.off('ready', onReady);
      reject(error);
    };
    connection.once('ready', onReady);
    connection.once('error', onError);
  });
}
