// train.js --val-data FILE: validation on a file of its own (all of --data trains), read as
// --data is, kept by --resume, and refused readably when it cannot be scored.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadChatData, loadTokenBin, loadValData } from '../src/node/dataset.ts';
import { loadDataset } from './load_dataset.ts';
import { DEFAULT_SPEAKERS as SP } from '../src/data/format.ts';
import { loadWeights } from '../src/node/load_model.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { evaluate } from '../src/train/step.ts';
import { runTraining } from '../src/node/train_run.ts';
import { tokenFileFlagsNote } from '../src/train/run.ts';
import { gpu } from './util.ts';
import { SMALL_CHAT } from './fixtures.ts';
import { assertOk, assertOneLineError, progress, run } from './child.ts';

const t = suite('val_data');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-val-data-'));
const file = (name: string, data: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};
const tokenBin = (name: string, n: number) => file(name, new Uint8Array(Uint16Array.from({ length: n }, (_, i) => i * 97 + 5).buffer));
const chat = file('chat.txt', SMALL_CHAT);
const valText = file('val.txt', 'Human: Name a fruit.\nBot: A ripe yellow banana.\n\nHuman: What is my name?\nBot: You have not told me yet.\n');
const MODEL = ['--init', 'scratch', '--n-layer', '1', '--n-head', '2', '--n-embd', '64', '--block-size', '32', '--batch-size', '2'];
const state = (d: string) => JSON.parse(readFileSync(join(d, 'train_state.json'), 'utf8'));

async function rejectsWith(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  try {
    await p;
  } catch (e) {
    for (const s of parts) assert.ok((e as Error).message.includes(s), `message ${JSON.stringify((e as Error).message)} lacks ${JSON.stringify(s)}`);
    return;
  }
  assert.unreachable(`expected an error with ${parts.join(', ')}`);
}

t('loadChatData with valData: all of the data trains, the validation set is the file (text or .bin)', async () => {
  const opts = { blockSize: 64, speakers: SP, mask: 'bot' as const };
  const train20 = file('train20.txt', Array.from({ length: 20 }, (_, i) => `Human: question ${i}\nBot: answer ${i}`).join('\n\n'));
  const whole = loadDataset(train20, opts);
  const { train, val, stats } = await loadChatData(train20, { ...opts, valData: valText });
  assert.equal([...train.tokens], [...whole.tokens], 'no conversation held out');
  assert.equal(train.stats, whole.stats);
  assert.equal([...val.tokens], [...loadDataset(valText, opts).tokens]);
  assert.is(stats.conversations, 22);
  // token files: every window of the training file trains
  const bin = tokenBin('train.bin', 25), valBin = tokenBin('val.bin', 9);
  const b = await loadChatData(bin, { ...opts, blockSize: 4, valData: valBin });
  assert.equal([...b.train.tokens], [...loadTokenBin(bin, 4).tokens]);
  assert.is(b.train.stats.windows, 6);
  assert.equal([...b.val.tokens], [...loadTokenBin(valBin, 4).tokens]);
  // the parser's notes on the validation file name it
  const noBlank = file('no-blank.txt', Array.from({ length: 6 }, (_, i) => `Human: q ${i}\nBot: a ${i}`).join('\n'));
  const { notes } = await loadChatData(train20, { ...opts, valData: noBlank });
  assert.ok(notes.some((n) => n.startsWith(`--val-data ${noBlank}: no blank lines`)), notes.join('\n'));
});

t('loadValData: the errors of --data, naming --val-data and saying what to do', async () => {
  const opts = { blockSize: 32, speakers: SP, mask: 'bot' as const };
  const missing = join(dir, 'nope.txt');
  await rejectsWith(loadValData(missing, opts), '--val-data file not found', missing, 'Human:');
  // what to pass is said in the run's tags (--human/--bot, or a resumed run's), --data's too
  const other = { ...opts, speakers: { human: 'User', bot: 'AI' } };
  await rejectsWith(loadValData(missing, other), '--val-data file not found', 'lines starting "User:"/"AI:"');
  await rejectsWith(loadChatData(missing, other), 'dataset file not found', 'lines starting "User:"/"AI:"');
  await rejectsWith(loadValData(file('empty.txt', ' \n'), opts), '--val-data file is empty (only whitespace)');
  await rejectsWith(loadValData(file('empty.bin', ''), opts), '--val-data file is empty');
  // a folder of chat files: one file is read, and the error says how to make one
  const chats = join(dir, 'chat-files');
  mkdirSync(chats);
  writeFileSync(join(chats, 'a.txt'), 'Human: hi\nBot: hello\n');
  await rejectsWith(loadValData(chats, opts), `--val-data file ${chats} is a folder: pass one file (join the folder's chat files into one, a blank line between them)`);
  await rejectsWith(loadChatData(chats, opts), `dataset file ${chats} is a folder: pass its chat files, each with its own --data (--data FILE1 --data FILE2)`);
  // nanoGPT's data folder (prepare.py's train.bin and val.bin): the files to pass, each to its flag
  const nano = join(dir, 'nanogpt-data');
  mkdirSync(nano);
  for (const f of ['train.bin', 'val.bin']) writeFileSync(join(nano, f), new Uint8Array(Uint16Array.from({ length: 40 }, (_, i) => i).buffer));
  await rejectsWith(loadChatData(nano, opts), `dataset file ${nano} is a folder: pass one file (nanoGPT's layout: --data ${join(nano, 'train.bin')} --val-data ${join(nano, 'val.bin')})`);
  const prose = file('prose.txt', 'It was a dark and stormy night.\n');
  await rejectsWith(loadValData(prose, opts), `--val-data ${prose}:`, '"Human:"', 'dark and stormy');
  // tags of its own: rewritten, not --human/--bot, which would retag --data too
  const lower = file('lower.txt', 'human: hi\nbot: hello\n');
  await rejectsWith(loadValData(lower, { ...opts, speakerFlags: true }), `--val-data ${lower}:`, 'the lines start with "human:" and "bot:": write them as "Human:" and "Bot:"');
  const short = tokenBin('short.bin', 20);
  await rejectsWith(loadValData(short, opts), `--val-data ${short}: 20 tokens, fewer than one window`, 'a smaller --block-size');
  await rejectsWith(loadValData(file('odd.bin', new Uint8Array(201)), opts), '--val-data', 'an odd number');
});

t('the val column is the loss on --val-data (the eval batches drawn from it), and train_state.json keeps the file', async () => {
  const g = await gpu();
  const out = join(dir, 'in-process');
  const r = await runTraining({
    init: 'scratch', data: chat, valData: valText, out, steps: 4, batchSize: 2, blockSize: 32, lr: 1e-2, warmup: 1,
    seed: 7, evalInterval: 2, evalSteps: 2, saveInterval: 0, nLayer: 1, nHead: 2, nEmbd: 64, quiet: true,
  }, g);
  assert.equal(r.valLosses.map(([s]) => s), [0, 2, 4], 'before the first step, every 2 steps');
  const st = state(out);
  assert.is(st.options.valData, valText);
  assert.match(st.valDataFingerprint, /^[0-9a-f]{16}$/);
  assert.equal(st.history.val, r.valLosses, 'the checkpoint history (and so loss.svg)');
  const w = await loadWeights(out);
  const model = GPT2.fromArrays(g, w.config, w.arrays);
  try {
    const { data } = await loadValData(valText, { blockSize: 32, speakers: SP, mask: 'bot' });
    assert.is(await evaluate(model, data, 2, 2, 32), r.valLosses.at(-1)![1]);
  } finally {
    for (const p of model.params.values()) p.release();
  }
});

t('train.js --val-data: the data lines say where validation comes from; --resume keeps the file, says when it changed, and takes a new one', async () => {
  const d = join(dir, 'cli'), val = file('changing.txt', readFileSync(valText, 'utf8'));
  const first = await run('train', [...MODEL, '--data', chat, '--val-data', val, '--steps', '2', '--eval-interval', '1', '--eval-steps', '1', '--out', d]);
  assertOk(first, 'with --val-data');
  assert.match(first.stdout, /^data: training: .*chat\.txt: 3 conversations -> /m, 'all three conversations of --data');
  assert.match(first.stdout, /^data: validation: .*changing\.txt \(--val-data\): 2 conversations -> \d+ tokens in \d+ windows?, loss on /m);
  assert.equal(progress(first.stdout).map((l) => l.val !== undefined), [true, true], first.stdout);
  writeFileSync(val, readFileSync(valText, 'utf8').replace('banana', 'green apple'));
  const kept = await run('train', ['--resume', '--out', d, '--steps', '3', '--eval-interval', '0']);
  assertOk(kept, 'resumed');
  assert.match(kept.stdout, /^data: validation: .*changing\.txt \(--val-data\): .* \(unused: --eval-interval 0\)$/m);
  assert.match(kept.stderr, /^warning: .*changing\.txt \(--val-data\) has changed since this run's last save .*not comparable/m);
  assert.not.match(kept.stderr, /chat\.txt has changed/);
  const other = await run('train', ['--resume', '--out', d, '--steps', '4', '--val-data', chat]);
  assertOk(other, 'resumed with another --val-data');
  assert.not.match(other.stderr, /has changed/, 'another file given on purpose');
  assert.is(state(d).options.valData, chat);
  // without --val-data, the held-out part of --data
  const held = await run('train', [...MODEL, '--data', chat, '--steps', '1', '--out', join(dir, 'held')]);
  assertOk(held, 'without --val-data');
  assert.match(held.stdout, /^data: validation: held out of .*chat\.txt: 1 conversation -> /m);
  assert.not.ok('valData' in state(join(dir, 'held')).options);
});

t('train.js --val-data refused readably: missing (before any weights load), gone on --resume (and dropped there with --val-data \'\'), nothing to score, too short, ids past the vocabulary', async () => {
  const missing = await run('train', [...MODEL, '--data', chat, '--val-data', join(dir, 'nope.txt'), '--out', join(dir, 'missing')]);
  assertOneLineError(missing, [/^error: --val-data file not found: .*nope\.txt \(pass a chat text file/], 'missing');
  assert.not.ok(existsSync(join(dir, 'missing')), 'refused before --out is made');
  assertOneLineError(await run('train', [...MODEL, '--data', chat, '--val-data', '', '--out', join(dir, 'blank')]), [/^error: --val-data is empty: pass a chat text file/], "--val-data ''");
  const monologue = file('no-bot.txt', 'Human: I will just talk.\n\nHuman: Still talking.\n');
  assertOneLineError(await run('train', [...MODEL, '--data', chat, '--val-data', monologue, '--out', join(dir, 'no-bot')]),
    [/^error: --val-data .*no-bot\.txt: no Bot replies to score .* pass --mask none to score every token/], 'no Bot replies');
  assertOneLineError(await run('train', [...MODEL, '--data', chat, '--val-data', tokenBin('short.bin', 20), '--out', join(dir, 'short')]),
    [/^error: --val-data .*short\.bin: 20 tokens, fewer than one window of --block-size \+ 1 = 33: pass a longer file or a smaller --block-size/], 'too short');
  const big = file('big-ids.bin', new Uint8Array(Uint16Array.from({ length: 40 }, (_, i) => (i === 7 ? 60000 : i + 1)).buffer));
  assertOneLineError(await run('train', [...MODEL, '--data', chat, '--val-data', big, '--out', join(dir, 'big-ids')]),
    [/^error: --val-data .*big-ids\.bin: token id 60000 is outside the model's vocabulary \(50257\): a \.bin must hold GPT-2 token ids, as nanoGPT's prepare\.py writes them/], 'token id past the vocabulary: what the file should hold');
  const d = join(dir, 'gone'), val = file('gone.txt', readFileSync(valText, 'utf8'));
  assertOk(await run('train', [...MODEL, '--data', chat, '--val-data', val, '--steps', '1', '--out', d]), 'first part');
  rmSync(val);
  assertOneLineError(await run('train', ['--resume', '--out', d, '--steps', '2']),
    [/^error: --resume: the run's validation data .*gone\.txt \(--val-data, from train_state\.json\) is not there any more: put it back, pass --val-data FILE .*, or --val-data '' to hold out a tenth of --data instead$/], 'gone');
  // the flag the error offers: the run goes on with part of --data held out, and keeps that
  const dropped = await run('train', ['--resume', '--out', d, '--steps', '2', '--val-data', '']);
  assertOk(dropped, "--resume --val-data ''");
  assert.match(dropped.stdout, /^--val-data '': the run's validation file .*gone\.txt is dropped; a tenth of .*chat\.txt is held out .*trained on those conversations so far, so its validation loss reads low and is not comparable with the earlier values$/m);
  assert.match(dropped.stdout, /^data: validation: held out of .*chat\.txt: 1 conversation -> /m);
  assert.not.ok('valData' in state(d).options, 'dropped from train_state.json');
  assertOk(await run('train', ['--resume', '--out', d, '--steps', '3']), 'resumed again without the file');
});

t('train.js on a .bin: --mask, --human, --bot given say in a note that they change nothing there (no speaker tags); with chat text in the run they do', async () => {
  const given = await run('train', [...MODEL, '--data', tokenBin('tagless.bin', 200), '--mask', 'bot', '--human', 'User', '--steps', '1', '--eval-interval', '0', '--out', join(dir, 'tagless')]);
  assertOk(given, 'a .bin with --mask and --human');
  assert.match(given.stdout, /^note: --mask bot --human User have no effect on training on a \.bin: it has no speaker tags, so the loss covers every token \(the run still records the tags, and chat\.js prompts the checkpoint with them\)$/m, given.stdout);
  assert.is(tokenFileFlagsNote({ mask: 'none' }, ['TRAIN.BIN'], 'val.bin'), '--mask none has no effect on training on a .bin: it has no speaker tags, so the loss covers every token');
  assert.is(tokenFileFlagsNote({}, ['train.bin'], undefined), null, 'none given');
  assert.is(tokenFileFlagsNote({ mask: 'none', bot: 'AI' }, ['train.bin'], 'val.txt'), null, 'they mask and tag the validation text');
  assert.is(tokenFileFlagsNote({ mask: 'none' }, ['chat.txt'], undefined), null);
});

t.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

t.run();
