/**
 * Ordered stdout writing with backpressure: every write waits for `drain` when the pipe is full, and
 * `flush()` resolves once everything written so far has been handed to the OS, so the process can end
 * without losing output.
 */

/** A writer over a stream that may be a slow or closed pipe. */
export class StdoutWriter {
  private last: Promise<void> = Promise.resolve();
  private broken = false;
  private silenced = false;

  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {
    // A reader that went away (EPIPE) must not crash the agent: stop writing instead.
    stream.on('error', () => {
      this.broken = true;
    });
  }

  /** True once the stream failed (for example EPIPE). */
  get isBroken(): boolean {
    return this.broken;
  }

  /** Writes `text`; resolves when the stream can take more (not necessarily when it was flushed). */
  async write(text: string): Promise<void> {
    if (this.broken || this.silenced || text === '') return;
    const done = new Promise<void>((resolve) => {
      this.stream.write(text, () => resolve());
    });
    this.last = done;
    if ((this.stream as NodeJS.WriteStream).writableNeedDrain) {
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          this.stream.off('drain', finish);
          this.stream.off('error', finish);
          this.stream.off('close', finish);
          resolve();
        };
        this.stream.on('drain', finish);
        this.stream.on('error', finish);
        this.stream.on('close', finish);
      });
    }
  }

  /** Drops every later write (used once the process is being terminated). */
  silence(): void {
    this.silenced = true;
  }

  /** Resolves when every write so far has completed (or the stream broke). */
  async flush(): Promise<void> {
    if (this.broken) return;
    let stop = (): void => {};
    const ended = new Promise<void>((resolve) => {
      stop = () => {
        this.stream.off('error', stop);
        this.stream.off('close', stop);
        resolve();
      };
      this.stream.on('error', stop);
      this.stream.on('close', stop);
    });
    await Promise.race([this.last, ended]);
    stop();
  }
}
