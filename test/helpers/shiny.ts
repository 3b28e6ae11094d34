/** Real R Shiny apps (Debian r-cran-shiny) started with Rscript on 127.0.0.1, for end-to-end tests. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { freePort } from './ports.js';

const APP = fileURLToPath(new URL('../e2e/shiny-app', import.meta.url));

/** True when Rscript and the shiny package are installed. */
export function shinyAvailable(): boolean {
  const r = spawnSync('Rscript', ['-e', 'library(shiny)'], { encoding: 'utf8' });
  return r.status === 0;
}

/** A running Shiny app process. */
export interface ShinyNode {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  kill(): Promise<void>;
}

/** Starts the test app as node `name`, waiting until it listens. */
export async function startShiny(name: string, port?: number): Promise<ShinyNode> {
  const p = port ?? (await freePort());
  const child = spawn(
    'Rscript',
    ['-e', `shiny::runApp('${APP}', port = ${p}, host = '127.0.0.1', launch.browser = FALSE)`],
    { env: { ...process.env, NODE_NAME: name }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  onTestFinished(kill);
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`shiny ${name} did not start:\n${log}`)), 30_000);
    const onData = (c: Buffer) => {
      log += c.toString();
      if (log.includes('Listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => reject(new Error(`shiny ${name} exited:\n${log}`)));
  });
  return { name, port: p, url: `http://127.0.0.1:${p}`, process: child, kill };
}
