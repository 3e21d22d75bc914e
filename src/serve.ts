// node dist/serve.js: an OpenAI-compatible chat server for GPT-2 or a fine-tuned checkpoint,
// decoding every request in flight together (continuous batching).
import { createServer as createNetServer } from 'node:net';
import { totalmem } from 'node:os';
import { basename, resolve } from 'node:path';
import { closeGpu, getGpu } from './node/gpu.ts';
import { UserError } from './util/errors.ts';
import { helpText, parseFlags, type FlagSpec } from './util/args.ts';
import { isDefaultSpeakers } from './data/format.ts';
import { carryOnWithoutStdout, speakersFromFlagsOrTraining, FAST_FLAG, loadChosen, MODEL_FLAGS, modelChoice, reportError, SPEAKER_FLAGS, STOP_SIGNALS } from './node/cli.ts';
import { GPT2BatchGenerator, kvBytesPerSlot } from './model/generate.ts';
import type { GPT2Config } from './model/config.ts';
import { count, gigabytes, megabytes } from './util/words.ts';
import { openModel } from './node/load_model.ts';
import { Scheduler } from './server/scheduler.ts';
import { ApiServer } from './server/http.ts';
import { isSendableKey } from './browser/openai.ts';

const KEY_ENV = 'GPT2_API_KEY';
/** how long in-flight requests may finish after Ctrl-C / SIGTERM / SIGHUP before they are cut */
const GRACE_MS = 10_000;

const specs: FlagSpec[] = [
  ...MODEL_FLAGS,
  ...SPEAKER_FLAGS,
  { name: 'host', type: 'string', default: '127.0.0.1', help: 'address to listen on (0.0.0.0: every interface)' },
  { name: 'port', type: 'int', default: 8080, help: 'port to listen on; 0 = any free port' },
  { name: 'max-batch', type: 'int', default: 8, help: "sequences decoded together (each holds a KV cache of the full context, allocated at the start: at most what the machine's memory holds)" },
  { name: 'max-queue', type: 'int', default: 64, help: 'requests that may wait for a free sequence; more get 503' },
  { name: 'api-key', type: 'string', help: `require 'Authorization: Bearer KEY' on /v1/* (default: env ${KEY_ENV}; none: no key needed)` },
  FAST_FLAG,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const USAGE = `usage: node dist/serve.js [flags]

Serves the model over the OpenAI API: POST /v1/chat/completions and /v1/completions (streamed
or not), GET /v1/models and /health. Requests in flight are decoded together, one batched
forward per token; more than --max-batch wait in a queue. Ctrl-C stops it (in-flight replies
get ${GRACE_MS / 1000} s to finish). README.md "Serve" has curl and openai examples.`;

/** the model's id in the API: the checkpoint directory's name (the adapter's, where one is merged in: that is the model served), or gpt2 */
const modelId = (dir: string) => basename(resolve(dir)); // 'gpt2' stays 'gpt2'

async function main(): Promise<void> {
  const a = parseFlags(process.argv.slice(2), specs, 'a model goes after --init');
  if (a.help) {
    process.stdout.write(helpText(USAGE, specs));
    return;
  }
  const maxBatch = a['max-batch'] as number, maxQueue = a['max-queue'] as number, port = a.port as number;
  if (maxBatch < 1) throw new UserError(`--max-batch must be at least 1, got ${maxBatch}`);
  if (maxQueue < 0) throw new UserError(`--max-queue must be at least 0, got ${maxQueue}`);
  if (port < 0 || port > 65535) throw new UserError(`--port must be 0..65535, got ${port}`);
  const apiKey = (a['api-key'] as string | undefined) ?? process.env[KEY_ENV] ?? undefined;
  if (apiKey !== undefined && apiKey.trim() === '') throw new UserError(`--api-key (or ${KEY_ENV}) is empty`);
  if (apiKey !== undefined && !isSendableKey(apiKey)) throw new UserError(`--api-key (or ${KEY_ENV}) must be printable ASCII without spaces (it travels in an HTTP header)`);
  const choice = modelChoice(a);
  const { init, adapter, dtype } = choice;
  const speakers = speakersFromFlagsOrTraining(a, choice);
  // a port in use or a host that is not this machine's, said before the model loads (or downloads)
  await listenProblem(port, a.host as string);

  await getGpu({ fast: a.fast ? true : undefined }); // the adapter first: no weight download on a machine that cannot run them
  const { model, loadMs, describe, files, noFiles } = await loadChosen(choice, () => openModel(init, { adapter, dtype }));
  // the weights as loaded: --dtype f16 holds the matrices in half the bytes
  const weightBytes = [...model.params.values()].reduce((n, p) => n + p.bytes, 0);
  const tooMany = maxBatchProblem(model.config, weightBytes, maxBatch, totalmem());
  if (tooMany) throw new UserError(tooMany);
  const gen = new GPT2BatchGenerator(model, maxBatch);
  const scheduler = new Scheduler(gen, { maxQueue });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const id = modelId(adapter ?? init);
  const server = new ApiServer({
    model: { id, contextLength: gen.contextLength, vocabSize: gen.vocabSize, created: Math.floor(Date.now() / 1000), speakers },
    scheduler, apiKey, log,
    // the page at / downloads the model from /model/ (and the adapter from /model/adapter/) to run it in the browser
    modelDir: files?.dir ?? null, adapterDir: files?.adapter ?? null,
  });
  const url = await server.listen(port, a.host as string).catch((e: NodeJS.ErrnoException) => {
    throw cannotListen(a.host as string, port, e);
  });
  // a browser runs WebGPU only on a secure page: https or localhost, so the page's URL is a loopback one when the server listens on all addresses
  const pageUrl = url.replace(/^http:\/\/(0\.0\.0\.0|\[::\])(?=:)/, 'http://127.0.0.1');
  log(`serving ${id} at ${url}/v1 (${describe}, loaded in ${(loadMs / 1000).toFixed(1)} s; max batch ${maxBatch}${apiKey ? ', API key required' : ''})` +
    (!isDefaultSpeakers(speakers) ? `; prompts as ${speakers.human}:/${speakers.bot}:` : '') +
    (files?.dir ? `; the chat page at ${pageUrl}/` : `; the chat page at ${pageUrl}/ can use the server only (${noFiles})`));
  // beyond this machine, anyone who can reach it may use the model (and its GPU) where no key is asked for
  if (!apiKey && !/^http:\/\/(127\.|\[::1\]|\[::ffff:127\.)/.test(url)) {
    console.warn(`warning: listening on ${a.host} without an API key: anyone who can reach this machine can use the model; pass --api-key KEY (or set ${KEY_ENV}) to require one`);
  }

  await new Promise<void>((done) => {
    let stopping: Promise<void> | null = null;
    const stop = (signal: string) => {
      if (stopping) {
        log(`${signal} again: cutting the replies in flight`);
        scheduler.cancelAll();
        return;
      }
      log(`${signal}: no new requests; replies in flight get ${GRACE_MS / 1000} s to finish (${signal} again cuts them)`);
      stopping = server.close(GRACE_MS).then(done, done);
    };
    // SIGHUP too (the terminal that started it closed): Node's default would end it at once, cutting replies with no error sent
    for (const s of STOP_SIGNALS) process.on(s, () => stop(s));
  });
  log('stopped');
}

// the log is stdout: a reader of it that goes away (`| head -1` for the URL) must not take the server down
carryOnWithoutStdout();

main()
  .catch(reportError)
  .finally(() => closeGpu());

function cannotListen(host: string, port: number, e: NodeJS.ErrnoException): UserError {
  const why = e.code === 'EADDRINUSE' ? 'the port is in use (pick another with --port, or 0 for any free port)'
    : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? `${e.message} (--host takes an address of this machine: 127.0.0.1, or 0.0.0.0 for all)`
      : e.message;
  return new UserError(`cannot listen on ${host}:${port}: ${why}`);
}

/**
 * The KV caches of --max-batch sequences are allocated at the start, each of the whole context:
 * more than the machine's memory beside the weights (memoryProblem's bound; WebGPU does not tell
 * a GPU's own) would end in an out-of-memory abort or a crash, so it is refused, with what fits.
 */
function maxBatchProblem(c: GPT2Config, weightBytes: number, maxBatch: number, memoryBytes: number): string | null {
  const perSlot = kvBytesPerSlot(c), room = memoryBytes - weightBytes;
  if (maxBatch * perSlot <= room) return null;
  const fits = Math.max(0, Math.floor(room / perSlot));
  return `--max-batch ${maxBatch} needs ${gigabytes(maxBatch * perSlot)} of KV caches (${megabytes(perSlot)} a sequence: ${count(c.n_layer, 'layer')} of ${c.n_positions} positions), ` +
    `more than this machine's ${gigabytes(memoryBytes)} of memory holds beside the weights: ${fits ? `pass --max-batch ${fits} or less` : 'this model leaves no room for one'}`;
}

/** Bind host:port and let go at once: throws what listening would (another process may still take the port in between). */
function listenProblem(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (e: NodeJS.ErrnoException) => reject(cannotListen(host, port, e)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
