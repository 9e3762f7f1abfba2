// Starts the real jobsphere binary on the embedded default (SQLite in a
// temporary data directory, sandbox payments) and runs its CLI commands.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// JOBSPHERE_BIN lets CI point at a binary built elsewhere; `make e2e`
// builds bin/jobsphere first.
export const binary = resolve(process.env.JOBSPHERE_BIN ?? join(import.meta.dirname, '..', '..', 'bin', 'jobsphere'));

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/**
 * startServer runs `jobsphere serve` and resolves once /readyz answers.
 * Everything the server logs is kept in `logs` (one JSON object per line).
 */
export async function startServer(extraEnv = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'jobsphere-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    DATA_DIR: dataDir,
    PORT: String(port),
    PUBLIC_URL: url,
    BCRYPT_COST: '4', // fast sign-ups; production refuses anything under 10
    LOG_LEVEL: 'debug',
    LOG_FORMAT: 'json', // `logs` holds one parsed object per line
    ...extraEnv,
  };
  const cli = async (...args) => {
    try {
      const { stdout } = await run(binary, args, { env });
      return { code: 0, stdout };
    } catch (err) {
      if (typeof err.code !== 'number') throw err;
      return { code: err.code, stdout: err.stdout + err.stderr };
    }
  };

  const proc = spawn(binary, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  let output = '';
  const keep = (chunk) => {
    output += chunk;
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      try { logs.push(JSON.parse(line)); } catch { logs.push({ msg: line }); }
    }
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((ok) => proc.once('exit', (code, signal) => ok({ code, signal })));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`jobsphere serve exited:\n${output}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`jobsphere serve did not get ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    dataDir,
    logs,
    cli,
    /** stop sends SIGTERM (a graceful shutdown) and resolves with the exit status. */
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    async cleanup() {
      await this.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
