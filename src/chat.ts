// node dist/chat.js: chat with GPT-2 (or a fine-tuned checkpoint) in a terminal or a pipe,
// answer one --prompt, or continue plain text with --raw.
import { closeGpu, getGpu } from './node/gpu.ts';
import { flagGiven, helpText, parseFlags, type FlagSpec } from './util/args.ts';
import { speakersFromFlagsOrTraining, FAST_FLAG, exitOnStdoutError, loadChosen, MODEL_FLAGS, modelChoice, reportError, SPEAKER_FLAGS } from './node/cli.ts';
import { openGenerator } from './node/load_model.ts';
import { applySettingFlags, ChatSession, defaultChatOptions, fitMaxNewTokens, settingFlags, type ChatOptions } from './chat/session.ts';
import { answer, runRepl } from './node/repl.ts';
import { UserError } from './util/errors.ts';


const specs: FlagSpec[] = [
  ...MODEL_FLAGS,
  { name: 'prompt', type: 'string', help: 'answer this one message and exit (the reply alone goes to stdout)' },
  { name: 'raw', type: 'boolean', help: 'plain text continuation: no Human/Bot formatting, no default stop strings' },
  { name: 'persona', type: 'string', help: 'text placed before the conversation (like nanoChatGPT --context); not with --raw' },
  ...settingFlags(defaultChatOptions()), // --temperature, --top-k, ..., --max-new-tokens, --seed
  { name: 'stop', type: 'list', help: 'extra stop string (repeatable; \\n and \\t are understood); chat mode always stops at \\n{human}: and \\n{bot}:' },
  ...SPEAKER_FLAGS,
  { name: 'quiet', type: 'boolean', help: 'no load time and no per-reply statistics (a message or persona cut to fit the context, or an empty reply, is still said)' },
  FAST_FLAG,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const USAGE = `usage: node dist/chat.js [flags]

Chats with GPT-2 through the WebGPU engine. In a terminal: a REPL (/help lists its commands;
a pasted block of lines is one message, the lines after a command that starts it the next one).
From a pipe: one message per line, each answered on a \`Bot: ...\` line. --prompt answers once.`;

const unescape = (s: string) => s.replace(/\\([ntr\\])/g, (_, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);

exitOnStdoutError();

async function main(): Promise<void> {
  const a = parseFlags(process.argv.slice(2), specs, 'a message to answer goes after --prompt, a model after --init');
  if (a.help) {
    process.stdout.write(helpText(USAGE, specs));
    return;
  }
  // the REPL skips an empty line; --prompt would send it as a turn and print whatever came back
  if (a.prompt !== undefined && !a.raw && !(a.prompt as string).trim()) throw new UserError("--prompt is empty: give the message to answer (with --raw, --prompt '' continues from <|endoftext|>)");
  // --raw's prompt is the text alone: a persona would be taken and silently left out
  if (a.raw && a.persona !== undefined) throw new UserError('--persona is for chat mode: --raw continues the text as given, so put what goes before it at the start of the text');
  // '' is in every text: it could never end a reply where the user meant (an unset shell variable, most likely)
  if ((a.stop as string[] | undefined)?.includes('')) throw new UserError("--stop '': an empty stop string stops nothing: give the text to stop at (e.g. --stop '\\n\\n'), or leave --stop out");
  const choice = modelChoice(a);
  const opts: ChatOptions = {
    ...defaultChatOptions(),
    speakers: speakersFromFlagsOrTraining(a, choice),
    persona: (a.persona as string | undefined) ?? '',
    stops: ((a.stop as string[] | undefined) ?? []).map(unescape),
    raw: !!a.raw,
    quiet: !!a.quiet,
  };
  applySettingFlags(opts, a);
  const { init, adapter, dtype } = choice;

  await getGpu({ fast: a.fast ? true : undefined }); // the adapter first: no weight download on a machine that cannot run them
  const { generator, loadMs, describe } = await loadChosen(choice, () => openGenerator(init, { adapter, dtype }));
  // /set takes a max_new_tokens below the context only: the flag too, or /set would refuse the value in use
  const fitted = fitMaxNewTokens(opts, generator.contextLength, flagGiven(process.argv.slice(2), 'max-new-tokens'));
  if (!opts.quiet) process.stderr.write(`loaded ${describe} in ${(loadMs / 1000).toFixed(1)} s\n${fitted ? `note: ${fitted}\n` : ''}`);

  if (a.prompt !== undefined) {
    await answer(new ChatSession(generator, opts), a.prompt as string, { output: process.stdout, log: process.stderr, tag: false });
    return;
  }
  const tty = !!process.stdin.isTTY;
  await runRepl(generator, opts, { input: process.stdin, output: process.stdout, isTTY: tty, pasteMode: !!process.stdout.isTTY, log: tty ? process.stdout : process.stderr });
}

main()
  .catch(reportError)
  .finally(async () => {
    await closeGpu();
    // stdin (a terminal or an unfinished pipe) would keep the process alive after /quit
    process.stdin.destroy();
  });
