// Test helpers for the server: a small random checkpoint on disk, an in-process server on it
// (127.0.0.1, any free port), and plain HTTP requests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2 } from '../src/model/gpt2.ts';
import { saveGPT2Weights } from '../src/node/weights.ts';
import type { GPT2Config } from '../src/model/config.ts';
import { GPT2BatchGenerator } from '../src/model/generate.ts';
import { openModel } from '../src/node/load_model.ts';
import { Scheduler, type SchedulerOptions } from '../src/server/scheduler.ts';
import { ApiServer, type HttpOptions } from '../src/server/http.ts';
import { gpu } from './util.ts';

/** GPT-2's vocabulary (the tokenizer's), everything else tiny; 96 positions so prompts and replies fit */
export const SERVE_CONFIG: GPT2Config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 96, vocab_size: 50257, layer_norm_epsilon: 1e-5 };

/** a checkpoint directory with random weights, larger than GPT-2's init so that greedy replies vary with the prompt */
export function randomCheckpoint(seed = 7): string {
  const dir = mkdtempSync(join(tmpdir(), 'gpt2-serve-'));
  const a = GPT2.initArrays(SERVE_CONFIG, seed);
  for (const [name, v] of a) if (name.endsWith('.weight') && !name.includes('ln_')) for (let i = 0; i < v.length; i++) v[i] *= 10;
  saveGPT2Weights(dir, SERVE_CONFIG, a);
  return dir;
}

export interface TestServer {
  url: string;
  server: ApiServer;
  scheduler: Scheduler;
  gen: GPT2BatchGenerator;
  logs: string[];
  close(): Promise<void>;
}

/** the API server on `dir` in this process */
export async function startServer(dir: string, o: { maxBatch?: number; scheduler?: Partial<SchedulerOptions>; http?: Partial<HttpOptions> } = {}): Promise<TestServer> {
  const { model } = await openModel(dir, { gpu: await gpu() });
  const gen = new GPT2BatchGenerator(model, o.maxBatch ?? 4);
  const scheduler = new Scheduler(gen, { maxQueue: 16, ...o.scheduler });
  const logs: string[] = [];
  const server = new ApiServer({
    model: { id: 'tiny', contextLength: gen.contextLength, vocabSize: gen.vocabSize, created: 1 },
    scheduler, log: (l) => logs.push(l), modelDir: dir, ...o.http,
  });
  const url = await server.listen(0, '127.0.0.1');
  return {
    url, server, scheduler, gen, logs,
    close: async () => {
      await server.close(0);
      gen.release();
      for (const p of model.params.values()) p.release();
    },
  };
}

export interface Response { status: number; headers: Headers; text: string; json: any }

export async function request(url: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
  const r = await fetch(url + path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'Content-Type': 'application/json', ...(init.headers as Record<string, string>) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const text = await r.text();
  let json: unknown = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, text, json };
}

/** the data: payloads of an event stream, [DONE] excluded */
export function events(text: string): any[] {
  const lines = text.split('\n\n').map((s) => s.trim()).filter(Boolean);
  if (lines.at(-1) !== 'data: [DONE]') throw new Error(`stream does not end with [DONE]: ${text.slice(-200)}`);
  return lines.slice(0, -1).map((l) => {
    if (!l.startsWith('data: ')) throw new Error(`not a data line: ${l}`);
    return JSON.parse(l.slice(6));
  });
}

/** the content of a streamed chat completion */
export const streamedContent = (text: string) => events(text).map((e) => e.choices[0]?.delta?.content ?? e.choices[0]?.text ?? '').join('');
