/**
 * A Lua script run atomically in Redis: by its SHA1 (`EVALSHA`), loaded with `EVAL` the first time the server
 * does not know it.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A Lua script and its SHA1. */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Loads the script into the server's script cache (so that `run` needs no second try). */
  async load(redis: Redis): Promise<void> {
    await redis.script('LOAD', this.lua);
  }

  /** Runs the script with these keys and arguments; resolves with what it returns. */
  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw error;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
