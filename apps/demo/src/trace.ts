import type { Request } from 'express';
import { AutoVerificationStrategy, TokenProvider } from 'nest-oidc-client-credentials';
import { DemoApiClient } from '../../demo-client/src/demo-api.client.js';
import type { DemoStack } from './demo.js';
import {
  recordIdServiceCalls,
  type IdServiceExchange,
  type IdServiceRecorder,
} from './id-service-recorder.js';
import { paint, redactAuthorization, type FormatOptions } from './output.js';

/** How demo-api checks a token: a route per strategy, and `auto`, its default strategy. */
export type TracedStrategy = 'jwt' | 'introspection' | 'userinfo' | 'auto';

/** A call from the demo client to demo-api, as demo-api received it and answered it. */
export interface TracedApiCall {
  method: string;
  path: string;
  /** `Bearer eyJ…(redacted)`, as demo-api received it. */
  authorization?: string;
  /** demo-api's status; `undefined` when the call failed before an answer. */
  status?: number;
  answer: string;
}

/** Step 3 for one strategy: what demo-api asked the ID service, and what it concluded. */
export interface TracedCheck {
  strategy: TracedStrategy;
  /** The call whose check this was; none for `auto`, which no demo-api route uses. */
  call?: TracedApiCall;
  /** The calls demo-api made to the ID service for the check. */
  exchanges: IdServiceExchange[];
  /** For `auto`: the verified token (client, scopes, expiry) or the refusal's code. */
  verdict?: string;
  ok: boolean;
}

/** One example of each step of the ID service article, with every token redacted. */
export interface DemoTrace {
  issuer: string;
  clientId: string;
  /** Step 1: the application gets a token. */
  token: { exchanges: IdServiceExchange[]; expiresIn?: number; error?: string; ok: boolean };
  /** Step 2: it calls the 3rd party service with it. */
  call: TracedApiCall & { ok: boolean };
  /** Step 3: the 3rd party service checks the token using the ID service, once per strategy. */
  checks: TracedCheck[];
  ok: boolean;
}

/**
 * Runs the article's three steps once, on a demo-api and a demo client of their own (empty caches,
 * so every call to the ID service shows), and records each call to the ID service and to demo-api.
 * Tokens are redacted as they are recorded; the trace never holds one.
 */
export async function traceSteps(stack: DemoStack): Promise<DemoTrace> {
  const received: TracedApiCall[] = [];
  const recorder = recordIdServiceCalls(stack.issuer);
  try {
    const pair = await stack.startPair((request: Request) => {
      received.push({
        method: request.method,
        path: request.originalUrl,
        authorization: redactAuthorization(request.headers.authorization),
        answer: '',
      });
    });
    try {
      recorder.take(); // calls made while the apps start belong to no step
      const tokens = pair.client.get(TokenProvider);
      const token = await tokens.getToken().then(
        (value) => ({ value }),
        (error: unknown) => ({ error: errorCode(error) }),
      );
      const tokenExchanges = recorder.take();
      const tokenAnswer = tokenExchanges.find((e) => e.fields?.expires_in !== undefined);
      const expiresIn = tokenAnswer?.fields?.expires_in;

      const api = pair.client.get(DemoApiClient);
      const callRoute = async (strategy: TracedStrategy): Promise<TracedCheck> => {
        const before = received.length;
        const answer = await api.call(strategy, 'whoami').catch((error: unknown) => ({
          status: undefined,
          body: `no answer (${errorCode(error)})`,
        }));
        const call: TracedApiCall = {
          ...(received[before] ?? { method: 'GET', path: `/${strategy}/whoami` }),
          status: answer.status,
          answer: typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body),
        };
        return { strategy, call, exchanges: recorder.take(), ok: answer.status === 200 };
      };

      const jwt = await callRoute('jwt');
      const checks = [jwt, await callRoute('introspection'), await callRoute('userinfo')];
      checks.push(await checkWithAuto(pair.api.get(AutoVerificationStrategy), token, recorder));
      const tokenOk = 'value' in token && typeof expiresIn === 'number';
      const call = { ...jwt.call!, ok: jwt.ok };
      return {
        issuer: stack.issuer,
        clientId: pair.clientId,
        token: {
          exchanges: tokenExchanges,
          expiresIn: typeof expiresIn === 'number' ? expiresIn : undefined,
          error: 'error' in token ? token.error : undefined,
          ok: tokenOk,
        },
        call,
        checks,
        ok: tokenOk && checks.every((check) => check.ok),
      };
    } finally {
      await pair.close();
    }
  } finally {
    recorder.stop();
  }
}

async function checkWithAuto(
  strategy: AutoVerificationStrategy,
  token: { value: string } | { error: string },
  recorder: IdServiceRecorder,
): Promise<TracedCheck> {
  if (!('value' in token)) {
    return { strategy: 'auto', exchanges: [], verdict: 'no token to check', ok: false };
  }
  try {
    const verified = await strategy.verify(token.value);
    const expiresIn =
      verified.expiresAt === undefined
        ? ''
        : `, expires in ${verified.expiresAt - Math.floor(Date.now() / 1000)} s`;
    const scopes = verified.scopes.length > 0 ? verified.scopes.join(' ') : '(none)';
    return {
      strategy: 'auto',
      exchanges: recorder.take(),
      verdict: `valid: client ${verified.clientId}, scope ${scopes}${expiresIn}`,
      ok: true,
    };
  } catch (error) {
    return {
      strategy: 'auto',
      exchanges: recorder.take(),
      verdict: `refused: ${errorCode(error)}`,
      ok: false,
    };
  }
}

/** A library error's stable code, else the error's name: never its message. */
function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code;
    if (typeof name === 'string') return name;
  }
  return 'error';
}

const HOW: Record<TracedStrategy, string> = {
  jwt: 'the signature checked against the JWKS keys, then iss and exp, locally',
  introspection: 'demo-api authenticates as its own client; the answer must say active: true',
  userinfo: 'the ID service accepts the token and names the client in sub',
  auto: "demo-api's default strategy, asked directly (no route uses it): a JWT by JWKS, else introspection",
};

const TITLE: Record<TracedStrategy, string> = {
  jwt: 'by JWKS',
  introspection: 'by introspection',
  userinfo: 'by userinfo',
  auto: 'by auto',
};

/** The trace as `npm start` prints it. */
export function formatTrace(trace: DemoTrace, { color }: FormatOptions = {}): string {
  const client = trace.clientId;
  const idService = 'ID service';
  const labels = [`${client} → ${idService}`, `${idService} → ${client}`, `demo-api → ${client}`];
  const width =
    Math.max(...labels.map((label) => label.length), 'demo-api → ID service'.length) + 3;
  const row = (label: string, text: string) => `   ${label.padEnd(width)}${text}`.trimEnd();
  const bold = (text: string) => paint(text, 'bold', color);
  const status = (code: number | undefined, ok: boolean) =>
    paint(code === undefined ? 'no answer' : String(code), ok ? 'green' : 'red', color);
  const exchanges = (from: string, list: IdServiceExchange[]) =>
    list.flatMap((exchange) => [
      row(`${from} → ${idService}`, `${exchange.method} ${exchange.target}`),
      ...(exchange.authorization ? [row('', `Authorization: ${exchange.authorization}`)] : []),
      ...(exchange.form ? [row('', exchange.form)] : []),
      row(
        `${idService} → ${from}`,
        `${status(exchange.status, exchange.status !== undefined && exchange.status < 400)} ${exchange.answer}`,
      ),
    ]);

  const lines = [
    bold('The three steps of the ID service article, traced once'),
    paint(
      '  (a demo-client and a demo-api of their own, caches empty; a token shows its first characters only)',
      'dim',
      color,
    ),
    '',
    bold(`1. ${client} gets an access token from the ID service`),
    ...exchanges(client, trace.token.exchanges),
    trace.token.expiresIn === undefined
      ? row(
          '',
          paint(`no token: ${trace.token.error ?? 'the answer has no expires_in'}`, 'red', color),
        )
      : row(
          '',
          `expires_in ${trace.token.expiresIn}: valid for ${duration(trace.token.expiresIn)};` +
            ' TokenProvider reuses it until shortly before',
        ),
    '',
    bold(`2. ${client} calls demo-api with it`),
    row(`${client} → demo-api`, `${trace.call.method} ${trace.call.path}`),
    row('', `Authorization: ${trace.call.authorization ?? '(none)'}`),
    row(`demo-api → ${client}`, `${status(trace.call.status, trace.call.ok)} ${trace.call.answer}`),
    '',
    bold('3. demo-api checks the token using the ID service'),
  ];
  for (const [index, check] of trace.checks.entries()) {
    const route = check.call
      ? `, for ${check.call.method} ${check.call.path}${check.strategy === 'jwt' ? ' (step 2)' : ''}`
      : '';
    lines.push(
      ...(index > 0 ? [''] : []),
      `   ${paint(TITLE[check.strategy], 'cyan', color)}${route}: ${HOW[check.strategy]}`,
      ...(check.exchanges.length > 0
        ? exchanges('demo-api', check.exchanges)
        : [row('', 'no call to the ID service')]),
      check.call
        ? row(`demo-api → ${client}`, `${status(check.call.status, check.ok)} ${check.call.answer}`)
        : row('demo-api', paint(check.verdict ?? '', check.ok ? 'green' : 'red', color)),
    );
  }
  return lines.join('\n');
}

function duration(seconds: number): string {
  if (seconds >= 86_400 && seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds >= 3_600 && seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
