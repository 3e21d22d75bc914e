// node dist/chat.js: chat with GPT-2 (or a fine-tuned checkpoint) in a terminal or a pipe,
// answer one --prompt, or continue plain text with --raw.
import { existsSync } from 'node:fs';
import { GpuValidationError } from './gpu/index.ts';
import { closeGpu, getGpu } from './node/gpu.ts';
import { UserError } from './util/errors.ts';
import { helpText, parseFlags, type FlagSpec } from './util/args.ts';
import { openGenerator } from './model/generate.ts';
import { DEFAULT_SAMPLING } from './chat/sampling.ts';
import { speakerProblem } from './data/format.ts';
import { fsReason } from './util/fs-errors.ts';
import { answer, applySetting, ChatSession, runRepl, type ReplOptions } from './chat/repl.ts';

const DEFAULT_OUT = 'out/chat'; // where `node dist/train.js` writes its checkpoint

const specs: FlagSpec[] = [
  { name: 'init', type: 'string', help: `gpt2 | DIR (config.json + model.safetensors) (default: ${DEFAULT_OUT} if it exists, else gpt2)` },
  { name: 'prompt', type: 'string', help: 'answer this one message and exit (the reply alone goes to stdout)' },
  { name: 'raw', type: 'boolean', help: 'plain text continuation: no Human/Bot formatting, no default stop strings' },
  { name: 'persona', type: 'string', help: 'text placed before the conversation (like nanoChatGPT --context)' },
  { name: 'temperature', type: 'number', default: DEFAULT_SAMPLING.temperature, help: 'sampling temperature; 0 = greedy' },
  { name: 'top-k', type: 'int', default: DEFAULT_SAMPLING.topK, help: 'sample among the k most likely tokens; 0 = off' },
  { name: 'top-p', type: 'number', default: DEFAULT_SAMPLING.topP, help: 'nucleus sampling mass; 1 = off' },
  { name: 'repetition-penalty', type: 'number', default: DEFAULT_SAMPLING.repetitionPenalty, help: 'CTRL-style penalty on tokens of the recent window; 1 = off' },
  { name: 'frequency-penalty', type: 'number', default: DEFAULT_SAMPLING.frequencyPenalty, help: 'logit -= this * count in the recent window; 0 = off' },
  { name: 'penalty-window', type: 'int', default: DEFAULT_SAMPLING.penaltyWindow, help: "how many recent tokens of the model's own output (earlier replies, then this one) the penalties look at" },
  { name: 'max-new-tokens', type: 'int', default: 128, help: 'longest reply in tokens' },
  { name: 'seed', type: 'int', default: 1337, help: 'sampling seed' },
  { name: 'stop', type: 'list', help: 'extra stop string (repeatable; \\n and \\t are understood); chat mode always stops at \\n{human}: and \\n{bot}:' },
  { name: 'human', type: 'string', default: 'Human', help: 'speaker tag of your turns' },
  { name: 'bot', type: 'string', default: 'Bot', help: 'speaker tag of the model' },
  { name: 'quiet', type: 'boolean', help: 'no load time and no per-reply statistics' },
  { name: 'fast', type: 'boolean', help: 'Dawn speed toggles (no robustness checks, no validation)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const USAGE = `usage: node dist/chat.js [flags]

Chats with GPT-2 through the WebGPU engine. In a terminal: a REPL (/help lists its commands).
From a pipe: one message per line, each answered on a \`Bot: ...\` line. --prompt answers once.`;

const unescape = (s: string) => s.replace(/\\([ntr\\])/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);

// a reader that goes away (`| head`) ends the program quietly, as it does other Unix tools,
// instead of an unhandled EPIPE stack trace
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  // a full disk or device (`> /dev/full`): say so in one line
  console.error(`error: cannot write to stdout: ${fsReason(e)}`);
  process.exit(1);
});

async function main(): Promise<void> {
  const a = parseFlags(process.argv.slice(2), specs);
  if (a.help) {
    process.stdout.write(helpText(USAGE, specs));
    return;
  }
  const human = (a.human as string).trim(), bot = (a.bot as string).trim();
  for (const [flag, v] of [['human', human], ['bot', bot]]) {
    const why = speakerProblem(v);
    if (why) throw new UserError(`--${flag} ${why}, got '${v}'`);
  }
  const opts: ReplOptions = {
    sampling: { ...DEFAULT_SAMPLING },
    maxNewTokens: 128,
    seed: 1337,
    speakers: { human, bot },
    persona: (a.persona as string | undefined) ?? '',
    stops: ((a.stop as string[] | undefined) ?? []).map(unescape),
    raw: !!a.raw,
    quiet: !!a.quiet,
  };
  const numeric = ['temperature', 'top-k', 'top-p', 'repetition-penalty', 'frequency-penalty', 'penalty-window', 'max-new-tokens', 'seed'];
  for (const flag of numeric) {
    const err = applySetting(opts, flag, String(a[flag]));
    if (err) throw new UserError(`--${flag}: ${err}`);
  }
  const init = (a.init as string | undefined) ?? (existsSync(DEFAULT_OUT) ? DEFAULT_OUT : 'gpt2');

  await getGpu({ fast: a.fast ? true : undefined }); // the adapter first: no weight download on a machine that cannot run them
  const { generator, loadMs, describe } = await openGenerator(init);
  if (!opts.quiet) process.stderr.write(`loaded ${describe} in ${(loadMs / 1000).toFixed(1)} s\n`);
  // a reply longer than the context stops when the context is full (the prompt keeps at least half)

  if (a.prompt !== undefined) {
    await answer(new ChatSession(generator, opts), a.prompt as string, { output: process.stdout, log: process.stderr, tag: false });
    return;
  }
  const tty = !!process.stdin.isTTY;
  await runRepl(generator, opts, { input: process.stdin, output: process.stdout, isTTY: tty, log: tty ? process.stdout : process.stderr });
}

main()
  .catch((e: unknown) => {
    const err = e as Error & { code?: string };
    // UserErrors and file-system errors (a bad path) are the user's to fix: one line, no stack
    const oneLine = err instanceof UserError || err instanceof GpuValidationError || (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code));
    console.error(`error: ${oneLine && !process.env.DEBUG ? err.message : (err?.stack ?? String(e))}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await closeGpu();
    // stdin (a terminal or an unfinished pipe) would keep the process alive after /quit
    process.stdin.destroy();
  });
