// Marks the built command-line entry points executable (tsc does not keep the mode bit).
import { chmodSync, existsSync } from 'node:fs';

for (const file of ['dist/src/cli/main.js', 'dist/src/agent/simulated/main.js', 'dist/src/agent/watchdog/main.js']) {
  if (existsSync(file)) chmodSync(file, 0o755);
}
