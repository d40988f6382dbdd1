// Placeholder until the packaging step lands: type-checks the whole workspace.
import { execFileSync } from 'node:child_process';
execFileSync('npx', ['tsc', '--noEmit', '-p', 'tsconfig.json'], { stdio: 'inherit' });
