// The two places the page's model can run: in this browser (the engine on navigator.gpu, with
// the server's checkpoint downloaded and cached (one file or a sharded save's shards), and a LoRA adapter merged in when there is one) or on the server (OpenAI's streaming Chat
// Completions API). Both answer a message given the conversation so far, the persona and the
// settings, streaming the reply's text.
import type { Gpu } from '../gpu/index.ts';
import { ChatSession, droppedNote, fitNotes, type ChatOptions } from '../chat/session.ts';
import type { Speakers, Turn } from '../data/format.ts';
import { describeConfig, largestTensor, parseConfig, type GPT2Config } from '../model/config.ts';
import { UserError } from '../util/errors.ts';
import { GPT2Generator } from '../model/generate.ts';
import { GPT2 } from '../model/gpt2.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, describeRank, mergeAdapter, parseAdapter, type ParsedAdapter } from '../model/peft.ts';
import { ADAPTER_HEADER, SPEAKERS_HEADER, WEIGHTS_HEADER } from '../server/page_headers.ts';
import { bytesSource, fmtShape, parseSafetensors } from '../model/safetensors.ts';
import { gpt2Params } from '../model/weights.ts';
import { openBrowserGpu } from '../browser/gpu.ts';
import { fetchCached, fetchText, type Progress } from '../browser/download.ts';
import { fetchWeights } from '../browser/weights.ts';
import { ApiError, listModels, streamChat, serverReason, type ChatMessage, type ListedModel } from '../browser/openai.ts';
import { modelSpeakers, speakersFromQueryOrHost, completionParams, type EngineKind } from './settings.ts';
import { count, megabytes } from '../util/words.ts';
import { rate } from '../chat/stats_line.ts';

export interface ReplyResult {
  text: string;
  /** eot, stop, length, context, abort */
  reason: string;
  ms: number;
  /** e.g. "14 tokens, 9.3 tok/s" */
  detail: string;
}

export interface Engine {
  readonly kind: EngineKind;
  /** the model, for the chat's header */
  readonly describe: string;
  /** where it runs, for the status line */
  readonly where: string;
  /** the model's context in tokens, which Max tokens must stay below (Infinity: not known) */
  readonly contextLength: number;
  reply(turns: Turn[], persona: string, message: string, onText: (text: string) => void, signal: AbortSignal): Promise<ReplyResult>;
}

export class BrowserEngine implements Engine {
  readonly kind = 'browser';
  readonly session: ChatSession;
  readonly generator: GPT2Generator;

  private constructor(readonly gpu: Gpu, readonly model: GPT2, readonly config: GPT2Config, readonly adapter: ParsedAdapter | null, opts: ChatOptions) {
    this.generator = new GPT2Generator(model);
    this.session = new ChatSession(this.generator, opts);
  }

  /** trained on this page (the Fine-tune tab): the server's model is not these weights any more */
  fineTuned = false;

  get describe(): string {
    return `GPT-2 · ${describeConfig(this.config)}${this.adapter ? ` + LoRA adapter (${describeRank(this.adapter)})` : ''}${this.fineTuned ? ' · fine-tuned here' : ''}`;
  }
  get where(): string {
    return `on this device's GPU (${this.gpu.adapterName})`;
  }
  get contextLength(): number {
    return this.generator.contextLength;
  }

  /**
   * Open the GPU, fetch config.json and the weights from `base` (model.safetensors or a sharded save's shards, cached), merge the LoRA
   * adapter at `adapter.base` into them (when it is there; `required`: it must be) and upload the weights;
   * `speakers`: the tags the query gave (?human=, ?bot=).
   */
  static async load(base: string, adapter: { base: string; required: boolean }, speakers: Partial<Speakers>, opts: ChatOptions, onProgress: (file: string, p: Progress) => void): Promise<BrowserEngine> {
    const gpu = await openBrowserGpu(); // first: no download on a browser that cannot run it
    try {
      const configUrl = modelConfigUrl(base);
      const got = await fetchText(configUrl);
      const config = parseConfig(got.text, configUrl);
      checkFits(gpu, config); // before downloading what this GPU could not hold
      // serve.js says whether it has an adapter beside the model; a static host does not, and the default place is tried
      const none = !adapter.required && got.headers.get(ADAPTER_HEADER) === 'none';
      // a model trained with other tags than Human/Bot: serve.js says which (as chat.js would prompt it), else its config.json does, or the query; the prompts use them as chat.js's do
      opts.speakers = speakersFromQueryOrHost(modelSpeakers(got.headers.get(SPEAKERS_HEADER), got.text, configUrl), speakers);
      const lora = none ? null : await fetchAdapter(adapter.base, adapter.required, config, onProgress); // before the model: a wrong adapter fails at once
      // serve.js says whether the weights are one file or shards; a static host does not, and model.safetensors is tried first
      const weights = await fetchWeights(base, got.headers.get(WEIGHTS_HEADER), onProgress);
      // aligned F32 tensors are views of the downloaded bytes: the weights are held once until uploaded
      const params = gpt2Params(weights, config);
      if (lora) mergeAdapter(params, lora); // as chat.js --adapter does
      const model = GPT2.fromArrays(gpu, config, params);
      params.clear();
      const engine = new BrowserEngine(gpu, model, config, lora, opts);
      await gpu.sync();
      return engine;
    } catch (e) {
      gpu.destroy(); // a refused or failed load keeps no device (each retry opens one of its own)
      throw e;
    }
  }

  async reply(turns: Turn[], persona: string, message: string, onText: (text: string) => void, signal: AbortSignal): Promise<ReplyResult> {
    const s = this.session;
    s.persona = persona;
    // each reply from the seed, as serve.js seeds a request with `seed`: the same question gets the same reply on both engines
    s.reseed(s.opts.seed);
    if (!sameTurns(s.history, turns)) s.setHistory(turns); // the conversation went on elsewhere (the other engine)
    const t0 = performance.now();
    const { reply, prompt } = await s.say(message, onText, () => signal.aborted);
    const speed = reply.decodeMs > 0 ? `, ${rate(reply.decodeTokens, reply.decodeMs)}` : '';
    // what did not fit the context, in chat.js's words (serve.js drops old exchanges too, but refuses a message too long to fit)
    return { text: reply.text.trim(), reason: reply.reason, ms: performance.now() - t0, detail: `${count(reply.tokens.length, 'token')}${speed}${fitNotes(prompt)}` };
  }

  /** after training: the cached keys and values came from the old weights */
  weightsChanged(): void {
    this.session.kv.reset(this.generator);
  }
}

/** a model whose largest tensor is over this GPU's buffer limit, said before its download */
export class TooBigForGpu extends UserError {}

function checkFits(gpu: Gpu, config: GPT2Config): void {
  const t = largestTensor(config);
  if (gpu.bufferFits(t.bytes)) return;
  throw new TooBigForGpu(`its largest tensor, ${t.name} ${fmtShape(t.shape)}, is ${megabytes(t.bytes)} in float32, over the ${megabytes(gpu.limits.maxBufferSize)} a buffer may hold on ${gpu.adapterName}`);
}

/** the PEFT adapter at `base` (adapter_config.json + adapter_model.safetensors, cached) checked against `config`; null when it is not there and not `required` */
async function fetchAdapter(base: string, required: boolean, config: GPT2Config, onProgress: (file: string, p: Progress) => void): Promise<ParsedAdapter | null> {
  const configUrl = new URL(base + ADAPTER_CONFIG, location.href).href;
  const got = required ? await fetchText(configUrl) : await fetchText(configUrl, { missingOk: true });
  if (got === null) return null;
  const url = new URL(base + ADAPTER_WEIGHTS, location.href).href;
  const bytes = await fetchCached(url, (p) => onProgress(ADAPTER_WEIGHTS, p));
  return parseAdapter(got.text, parseSafetensors(bytesSource(bytes), url), config, { config: configUrl, weights: url });
}

/** the absolute URL of a model's config.json under `base` (the page's ?model=, default model/) */
export const modelConfigUrl = (base: string) => new URL(`${base}config.json`, location.href).href;

export class ServerEngine implements Engine {
  readonly kind = 'server';

  /** `model`: the one requests name, as /v1/models last said it */
  private constructor(readonly base: string, private model: ListedModel, private opts: ChatOptions, private apiKey: string) {}

  get describe(): string {
    return this.model.id;
  }
  get where(): string {
    return 'on the server';
  }
  get contextLength(): number {
    return this.model.contextLength ?? Infinity;
  }

  /** Check the server answers GET /v1/models and take its first model; `apiKey` for a server started with --api-key ('' = none). */
  static async connect(base: string, opts: ChatOptions, apiKey = ''): Promise<ServerEngine> {
    const models = await listModels(base, { apiKey });
    if (!models.length) throw new Error(`${base || location.origin}/v1/models lists no model`);
    return new ServerEngine(base, models[0], opts, apiKey);
  }

  async reply(turns: Turn[], persona: string, message: string, onText: (text: string) => void, signal: AbortSignal): Promise<ReplyResult> {
    const messages: ChatMessage[] = [
      ...(persona.trim() ? [{ role: 'system' as const, content: persona.trim() }] : []),
      ...turns.map((t): ChatMessage => ({ role: t.speaker === 'human' ? 'user' : 'assistant', content: t.text })),
      { role: 'user', content: message },
    ];
    const t0 = performance.now();
    let pieces = 0;
    const params = completionParams(this.opts);
    const ask = () => streamChat(this.base, { model: this.model.id, messages, ...params }, (text) => {
      pieces++;
      onText(text);
    }, signal, this.apiKey);
    let r: Awaited<ReturnType<typeof ask>>;
    try {
      r = await ask();
    } catch (e) {
      // the server restarted with another model: learn its name and ask once more
      if (!(e instanceof ApiError && e.code === 'model_not_found')) throw e;
      const models = await listModels(this.base, { signal, apiKey: this.apiKey });
      if (!models.length || models[0].id === this.model.id) throw e;
      this.model = models[0];
      r = await ask();
    }
    const ms = performance.now() - t0;
    // tokens, as this browser's engine counts them, where the server says (a chunk may carry no text, or several tokens')
    const length = r.usage ? count(r.usage.completion_tokens, 'token') : count(pieces, 'chunk');
    return { text: r.content.trim(), reason: serverReason(r, this.contextLength, params.max_tokens!), ms, detail: `${length} in ${(ms / 1000).toFixed(1)} s${droppedNote(r.dropped)}` };
  }
}

const sameTurns = (a: Turn[], b: Turn[]) => a.length === b.length && a.every((t, i) => t.speaker === b[i].speaker && t.text === b[i].text);
