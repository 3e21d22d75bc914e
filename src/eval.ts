// node dist/eval.js: scores a checkpoint on held-out conversations (data/eval.txt): the
// validation loss on their Bot turns, and replies generated through the same ChatSession as
// chat.js, scored for stopping, repetition, recall, honesty, copying and diversity.
import { existsSync } from 'node:fs';
import { closeGpu, getGpu } from './node/gpu.ts';
import { UserError } from './util/errors.ts';
import type { GPT2 } from './model/gpt2.ts';
import { flagGiven, helpText, parseFlags, type FlagSpec } from './util/args.ts';
import { checkShippedFile, recordedSpeakers, speakersFromFlagsOrTraining, exitOnStdoutError, FAST_FLAG, loadChosen, MODEL_FLAGS, modelChoice, reportError, signalExitCode, signalName, SPEAKER_FLAGS, STOP_SIGNALS, trainingDataOf } from './node/cli.ts';
import { openGenerator } from './node/load_model.ts';
import { applySettingFlags, defaultChatOptions, fitMaxNewTokens, settingFlags, type ChatOptions } from './chat/session.ts';
import { parseChat } from './data/conversations.ts';
import { readChatText } from './node/dataset.ts';
import { isTokenFile } from './data/token_bin.ts';
import { count } from './util/words.ts';
import { packConversations, type TokenDataset } from './data/windows.ts';
import { DEFAULT_SPEAKERS, tagPair, type Speakers } from './data/format.ts';
import { evaluate } from './train/step.ts';
import { DEFAULTS, formatDuration } from './train/run.ts';
import { readMarkedChat } from './eval/heldout.ts';
import { generateReplies, scoredTurns } from './eval/run.ts';
import { onlySeen, recallValueDataset, trainingTokens } from './eval/recall_loss.ts';
import { score, trainingReplies, wilson95, type Fraction, type Scores } from './eval/score.ts';

// Replies in the shipped data are at most 24 tokens; 64 leaves a 256-token context room for
// a whole held-out conversation (chat.js's 128 would halve it).
const defaults: ChatOptions = { ...defaultChatOptions(), maxNewTokens: 64 };

const DEFAULT_TRAIN_DATA = DEFAULTS.data; // train.js's default --data
const DEFAULT_HELD_OUT = 'data/eval.txt';

const specs: FlagSpec[] = [
  ...MODEL_FLAGS,
  ...SPEAKER_FLAGS,
  { name: 'data', type: 'string', default: DEFAULT_HELD_OUT, help: 'held-out Human:/Bot: conversations, answers marked [recall: VALUE] / [unknown] (data/README.md)' },
  { name: 'train-data', type: 'list', arg: 'FILE', help: `the training conversations, for the copying score and the seen-tokens row; repeat it for several files (default: the data the model was trained on, all its files, from its train_state.json, else ${DEFAULT_TRAIN_DATA}; both rows are left out when one of those files is not there)` },
  { name: 'limit', type: 'int', help: 'only the first N conversations' },
  { name: 'json', type: 'boolean', help: 'print the scores and every reply as JSON instead of the table' },
  { name: 'persona', type: 'string', help: 'text placed before each conversation, as chat.js --persona' },
  // --temperature, --top-k, ..., --max-new-tokens, --seed: as in chat.js, but the penalties'
  // window here holds the file's Bot turns where chat.js has the model's earlier replies
  ...settingFlags(defaults).map((f) => f.name === 'penalty-window'
    ? { ...f, help: "how many recent tokens of the conversation's Bot turns as the file writes them (before the reply; less the words of its Human turns), then of the reply, the penalties look at" }
    : f),
  FAST_FLAG,
  { name: 'help', type: 'boolean', help: 'show this help' },
];

const USAGE = `usage: node dist/eval.js [flags]

Scores a checkpoint on held-out conversations: validation loss and perplexity on their Bot
turns, then a reply to every Human turn (prompted with the conversation so far, as chat.js
prompts), scored for stop rate, repetition, recall, honesty, copying and distinct-2.
Deterministic for a seed. README.md "Evaluate" explains each number.`;

/** a chat text file that --FLAG names, in `sp`'s tags: what eval.js refuses besides what train.js does (readChatText) */
function readText(path: string, flag: string, sp: Speakers): string {
  const lines = `lines starting ${tagPair(sp)}`;
  // '' would name the current directory
  if (path === '') throw new UserError(`--${flag} is empty: pass a chat text file with ${lines}`);
  // its uint16 tokens read as text are half NULs: the parser would call it UTF-16
  if (isTokenFile(path)) throw new UserError(`--${flag} ${path} is a token file: pass the chat text file it was made from (${lines})`);
  return readChatText(path, {
    what: `--${flag} file`,
    speakers: sp,
    missing: `--${flag} ${path}: no such file (pass a chat text file with ${lines}; data/README.md describes the format)`,
    tooBig: 'pass a part of it',
  });
}

/** `read` in the first of `tags` it parses in (the shipped data/eval.txt and data/chat.txt are in Human/Bot), and those tags; the first error if none */
function inTags<T>(read: (sp: Speakers) => T, tags: Speakers[]): { read: T; sp: Speakers } {
  let first: unknown = null;
  for (const [i, sp] of tags.entries()) {
    if (tags.slice(0, i).some((o) => o.human === sp.human && o.bot === sp.bot)) continue; // tried
    try {
      return { read: read(sp), sp };
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      first ??= e;
    }
  }
  throw first;
}

function withPath<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${path}: ${e.message}`);
    throw e;
  }
}

type Loss = { loss: number; tokens: number };
/** a loss over `tokens` target tokens; loss null: a stop cut it short */
type CutLoss = { loss: number | null; tokens: number };
/** the recall loss over all of the values' tokens, and over those the training data contains */
type ValueLoss = { all: CutLoss; seen: CutLoss };

/** the target tokens `ds` masks in */
function maskedTokens(ds: TokenDataset): number {
  let tokens = 0;
  for (let i = 1; i <= ds.stats.windows * ds.blockSize; i++) tokens += ds.mask[i];
  return tokens;
}

/** mean loss over the tokens `ds` masks in (one window a batch); its loss null when `stopped` cut it short */
async function maskedLoss(model: GPT2, ds: TokenDataset, stopped?: () => boolean): Promise<CutLoss> {
  const tokens = maskedTokens(ds);
  const loss = await evaluate(model, ds, ds.stats.windows, 1, ds.blockSize, stopped);
  // evaluate's null with tokens to score: stopped
  return { loss: loss === null && tokens ? null : (loss ?? NaN), tokens };
}

/** a recall loss as the table shows it: '-' when it has no tokens or a stop cut it short */
const lossValue = (l: CutLoss) => (l.tokens && l.loss !== null ? l.loss.toFixed(3) : '-');
const CUT = 'not computed: interrupted';
/** a recall loss in --json: null when it has no tokens or a stop cut it short */
const lossJson = (l: CutLoss) => (l.tokens ? l.loss : null);

const pct = (f: Fraction) => (f.of ? `${((100 * f.count) / f.of).toFixed(1)}%` : '-');

function table(s: Scores, loss: Loss, valueLoss: ValueLoss, maxNewTokens: number, sp: Speakers): string {
  const row = (name: string, value: string, what: string) => `  ${name.padEnd(18)} ${value.padStart(7)}   ${what}`;
  const of = (f: Fraction, what: string) => `${f.count}/${f.of} ${what}`;
  // the questions are few: say which rates the count is consistent with
  const range = (f: Fraction) => (f.of ? `; 95% interval ${wilson95(f).map((x) => `${(100 * x).toFixed(0)}%`).join('-')}` : '');
  return [
    row('val loss', loss.loss.toFixed(3), `perplexity ${Math.exp(loss.loss).toFixed(1)}, over ${loss.tokens} ${sp.bot} tokens`),
    row('stop rate', pct(s.stopped), of(s.stopped, `replies ended with <|endoftext|> within ${count(maxNewTokens, 'token')}`)),
    row('repeated 3-gram', pct(s.repeated3gram), of(s.repeated3gram, 'replies repeat a 3-word sequence')),
    row('identical replies', pct(s.identical), of(s.identical, 'replies repeat an earlier reply of their conversation')),
    row('recall', pct(s.recall), of(s.recall, 'replies contain the fact asked about') + range(s.recall) +
      (s.recallOutOfContext ? ` (${s.recallOutOfContext} of the questions lost older exchanges to the context)` : '')),
    row('recall loss', lossValue(valueLoss.all), valueLoss.all.loss !== null ? `over the ${valueLoss.all.tokens} tokens of the recalled values in the reference replies (a uniform guess: 10.825)` : CUT),
    row('  seen tokens', lossValue(valueLoss.seen), valueLoss.seen.loss !== null ? `over the ${valueLoss.seen.tokens} of them that occur in the training data` : CUT),
    row('honesty', pct(s.honesty), of(s.honesty, 'replies admit the fact was never given') + range(s.honesty)),
    row('  denied', pct(s.denied), of(s.denied, 'replies to recall questions say the fact was never given (it was)')),
    row('copying', pct(s.copying), of(s.copying, 'replies are verbatim training replies (and not the reference)')),
    row('distinct-2', s.distinct2 === null ? '-' : s.distinct2.toFixed(3), 'distinct word pairs / all word pairs in the replies'),
  ].join('\n');
}

// Ctrl-C (or SIGTERM, SIGHUP) once the validation loss is computed stops there: during the recall
// loss, the losses computed so far are reported; during the replies, the conversations finished
// so far are scored too. Minutes of work are not lost. Before the validation loss is through,
// or a second time, it quits at once.
let phase: 'before' | 'recall' | 'replies' | 'after' = 'before';
let stopSignal: NodeJS.Signals | null = null;
const stopped = () => stopSignal !== null;
for (const s of STOP_SIGNALS) {
  process.on(s, (sig: NodeJS.Signals) => {
    const nl = process.stderr.isTTY ? '\n' : ''; // after the progress line's \r
    if ((phase === 'recall' || phase === 'replies') && !stopSignal) {
      stopSignal = sig;
      const kept = phase === 'recall' ? 'the validation loss is reported' : 'the conversations finished so far are scored';
      process.stderr.write(`${nl}eval: ${signalName(sig)}: stopping; ${kept} (${sig === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again quits at once)\n`);
      return;
    }
    process.stderr.write(`${nl}eval: ${signalName(sig)}: stopped${phase === 'before' ? ' before the validation loss was computed: nothing scored' : ''}\n`);
    process.exit(signalExitCode(sig));
  });
}

async function main(): Promise<void> {
  const a = parseFlags(process.argv.slice(2), specs, 'a model goes after --init, held-out conversations after --data');
  if (a.help) {
    process.stdout.write(helpText(USAGE, specs));
    return;
  }
  const opts: ChatOptions = { ...defaults, sampling: { ...defaults.sampling }, persona: (a.persona as string | undefined) ?? '' };
  applySettingFlags(opts, a);
  const limit = a.limit as number | undefined;
  if (limit !== undefined && limit < 1) throw new UserError(`--limit must be at least 1, got ${limit}`);
  const choice = modelChoice(a);
  const { init, adapter, dtype } = choice;
  // prompts use the tags the model was trained with; the shipped held-out set is written in Human/Bot
  const speakers = speakersFromFlagsOrTraining(a, choice);
  opts.speakers = speakers;
  const dataPath = a.data as string;
  if (dataPath === DEFAULT_HELD_OUT) checkShippedFile(DEFAULT_HELD_OUT, 'the held-out set', 'eval.js');
  const dataText = readText(dataPath, 'data', speakers);
  // the file's tags: the prompts' (speakers), or Human/Bot (the shipped held-out set's)
  const { read: parsed, sp: dataTags } = withPath(dataPath, () => inTags((sp) => readMarkedChat(dataText, sp), [speakers, DEFAULT_SPEAKERS]));
  let convs = parsed.conversations;
  if (limit !== undefined) convs = convs.slice(0, limit);
  const replies = convs.reduce((n, c) => n + scoredTurns(c).length, 0);
  if (!replies) throw new UserError(`--data ${dataPath}: no turn tagged "${dataTags.bot}:" answers one tagged "${dataTags.human}:", so there is nothing to score`);
  // the training text: given, or the files the model was trained on, or the shipped one; without one of them copying and seen tokens are left out
  const given = a['train-data'] as string[] | undefined;
  const trainPaths = given ?? trainingDataOf(choice) ?? [DEFAULT_TRAIN_DATA];
  const unread = given ? undefined : trainPaths.find((p) => !existsSync(p) || isTokenFile(p));
  // the training text is in the tags the model was trained with, whatever --human/--bot set for the prompts
  const trainTags = [recordedSpeakers(choice) ?? speakers, speakers, DEFAULT_SPEAKERS];
  const trainTexts = unread === undefined ? trainPaths.map((p) => readText(p, 'train-data', trainTags[0])) : null;
  const training = trainTexts && trainingReplies(trainTexts.flatMap((text, i) => withPath(trainPaths[i], () => inTags((sp) => parseChat(text, sp), trainTags)).read));
  const trainText = trainTexts?.join('\n') ?? null; // trainingTokens reads it line by line
  const t0 = performance.now();
  await getGpu({ fast: a.fast ? true : undefined });
  const { generator, describe } = await loadChosen(choice, () => openGenerator(init, { adapter, dtype }));
  const log = (s: string) => process.stderr.write(s);
  const fitted = fitMaxNewTokens(opts, generator.contextLength, flagGiven(process.argv.slice(2), 'max-new-tokens'));
  if (fitted) log(`eval: note: ${fitted}\n`);
  log(`eval: ${describe}\neval: ${dataPath}: ${count(convs.length, 'conversation')}, ${count(replies, 'reply', 'replies')} to generate\n`);
  for (const n of parsed.notes) log(`eval: note: ${n}\n`);
  if (unread !== undefined) log(`eval: no training text (${unread}${isTokenFile(unread) ? ' is a token file' : ' is not there'}): copying and seen tokens are left out; --train-data FILE scores them\n`);

  const T = Math.min(256, generator.contextLength);
  // the Bot turns, packed and masked as training packs them
  // each forward pass over a window takes a while on a CPU adapter (GPT-2 124M on lavapipe: a minute for
  // the shipped set's losses, before the first reply): say what is being computed
  const botTurns = packConversations(convs, speakers, T, 'bot');
  log(`eval: val loss over ${count(botTurns.stats.windows, 'window')} of ${T} tokens\n`);
  const val = await maskedLoss(generator.model, botTurns);
  const loss = { loss: val.loss!, tokens: val.tokens }; // no stop asked for: never null
  phase = 'recall';
  // the recalled values' tokens, and those of them that the training data contains: a model
  // trained from scratch on it cannot output the others, copying or not
  const values = recallValueDataset(convs, speakers, T);
  const seenValues = onlySeen(values, trainText ? trainingTokens(trainText) : new Set());
  log(`eval: recall loss over ${count(values.stats.windows * (trainText ? 2 : 1), 'window')} (the values' tokens${trainText ? ', then those seen in training' : ''})\n`);
  const valueLoss: ValueLoss = { all: await maskedLoss(generator.model, values, stopped), seen: { loss: NaN, tokens: 0 } };
  if (trainText) valueLoss.seen = await maskedLoss(generator.model, seenValues, stopped);
  const tty = !!process.stderr.isTTY;
  let finished = 0; // conversations whose replies are all in
  phase = 'replies';
  const tReplies = performance.now();
  const transcripts = await generateReplies(generator, convs, opts, (done, n) => {
    finished = done;
    // the replies so far set the pace of the rest (a big model on a CPU takes many minutes)
    const now = performance.now(), eta = done < convs.length && n > 0 ? `, ETA ${formatDuration(((now - tReplies) / 1000 / n) * (replies - n))}` : '';
    const line = `eval: conversation ${done}/${convs.length}, ${n}/${replies} replies, ${formatDuration((now - t0) / 1000)}${eta}`;
    if (tty) log(`\r${line}\x1b[K${done === convs.length ? '\n' : ''}`);
    else if (done % 10 === 0 || done === convs.length) log(`${line}\n`);
  }, stopped);
  phase = 'after';
  const seconds = (performance.now() - t0) / 1000;
  // stopped: the replies of the first conversations, as --limit would give them; the losses above are over all of them
  const interrupted = stopSignal && finished < convs.length ? { signal: stopSignal, conversations: finished } : null;
  if (interrupted) {
    process.exitCode = signalExitCode(interrupted.signal);
    // the validation loss is done (a minute for GPT-2 on a CPU): it is printed even when no reply is, or no recall loss
    const replied = finished ? `the replies of the first ${count(finished, 'conversation')} of ${convs.length} are scored (--limit ${finished} gives the same replies)` : 'no conversation was finished: no reply is scored';
    const losses = valueLoss.all.loss === null ? 'the recall loss was cut short (not computed); the validation loss is'
      : valueLoss.seen.loss === null ? 'the seen-tokens recall loss was cut short (not computed); the validation and recall losses are' : 'the losses are';
    log(`eval: ${signalName(interrupted.signal)} after ${seconds.toFixed(1)} s: ${replied}; ${losses} over all ${convs.length}\n`);
  }
  // chat.js says this after a reply; here the table would hide it
  const personaCut = transcripts.filter((r) => r.personaCut), messageCut = transcripts.filter((r) => r.messageCut).length;
  if (personaCut.length) {
    log(`eval: note: the persona was cut from its start to fit the context in ${personaCut.length} of ${count(transcripts.length, 'prompt')} (by up to ${count(Math.max(...personaCut.map((r) => r.personaCut)), 'token')}, after all earlier turns were left out): a shorter --persona, or a lower --max-new-tokens, keeps it whole\n`);
  }
  if (messageCut) log(`eval: note: ${count(messageCut, `${speakers.human} turn`)} alone did not fit the context and lost ${messageCut === 1 ? 'its' : 'their'} start: a lower --max-new-tokens gives ${messageCut === 1 ? 'it' : 'them'} room\n`);
  const scores = score(transcripts, training);
  const scored = interrupted ? `the first ${finished} of ${convs.length} conversations (interrupted)` : count(convs.length, 'conversation');
  if (a.json) {
    const settings = { init, adapter: adapter ?? null, dtype, data: dataPath, trainData: trainTexts ? trainPaths : null, speakers, conversations: convs.length, persona: opts.persona, maxNewTokens: opts.maxNewTokens, seed: opts.seed, sampling: opts.sampling };
    process.stdout.write(`${JSON.stringify({ settings, interrupted, valLoss: loss.loss, perplexity: Math.exp(loss.loss), valTokens: loss.tokens, recallLoss: lossJson(valueLoss.all), recallTokens: valueLoss.all.tokens,
      recallLossSeen: lossJson(valueLoss.seen), recallTokensSeen: valueLoss.seen.tokens, scores,
      interval95: { recall: wilson95(scores.recall), honesty: wilson95(scores.honesty) }, replies: transcripts }, null, 1)}\n`);
  } else {
    // an adapter's scores are told apart from its base's
    process.stdout.write(`eval of ${init}${adapter ? ` + LoRA adapter ${adapter}` : ''} on ${dataPath}: ${scored}, ${count(transcripts.length, 'reply', 'replies')}, seed ${opts.seed}, temperature ${opts.sampling.temperature}\n`);
    process.stdout.write(`${table(scores, loss, valueLoss, opts.maxNewTokens, speakers)}\n`);
  }
  if (interrupted) return;
  log(`eval: done in ${seconds.toFixed(1)} s\n`);
}

exitOnStdoutError();

main()
  .catch(reportError)
  .finally(() => closeGpu());
