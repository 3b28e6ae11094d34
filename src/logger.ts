/**
 * The one logger: pino JSON to stdout, cookies and credentials redacted. Components take a child
 * (`logger.child({ component: 'health' })`); messages are static, data goes in fields, errors under `err`.
 */
import { type LevelWithSilent, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/** Paths pino removes from every line. */
export const REDACT = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
  'cookie',
  'authorization',
  'token',
  'secret',
];

/**
 * Creates the process logger writing to `destination`; by default JSON lines on stdout, or a
 * human-readable rendering when stdout is a terminal.
 */
export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  const out =
    destination ??
    (process.stdout.isTTY
      ? pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' })
      : pino.destination({ dest: 1, sync: false }));
  return pino(
    {
      level,
      base: { service: 'stickylb' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    out,
  );
}
