// The two commands end to end, as child processes: `node dist/train.js` (progress, log,
// checkpoint, Ctrl-C, --resume, one-line errors) and `node dist/chat.js` (pipe REPL, --prompt,
// --raw). Tiny models, so the whole file takes seconds. Needs dist/ built (npm test does that).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isHubModel, openGenerator } from '../src/node/load_model.ts';
import { DEFAULT_SAMPLING } from '../src/chat/sampling.ts';
import { apiValueProblem } from '../src/chat/api_limits.ts';
import { parseChatRequest } from '../src/server/api.ts';
import { runRepl } from '../src/node/repl.ts';
import { applySetting, ChatSession, defaultChatOptions, type ChatOptions } from '../src/chat/session.ts';
import { learningRate } from '../src/train/schedule.ts';
import { shellWord } from '../src/util/words.ts';
import { parseSpeakersHeader, SPEAKERS_HEADER } from '../src/server/page_headers.ts';
import { speakersFromFlagsOrTraining } from '../src/node/cli.ts';
import { GPT2_124M, hfConfigJson } from '../src/model/config.ts';
import { configText } from '../src/model/weights.ts';
import { gpu } from './util.ts';
import { SMALL_CHAT } from './fixtures.ts';
import { assertOk, assertOneLineError, progress, ROOT, run, start, stderrLines, waitForStdout, type Done, type Proc } from './child.ts';

const t = suite('cli');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-cli-'));
const chat = join(dir, 'chat.txt');
writeFileSync(chat, SMALL_CHAT);
const DATA = ['--data', chat, '--block-size', '32', '--batch-size', '2'];
/** a tiny from-scratch run without its data: --data given again adds a file, so a test of another file starts from this */
const TINY_NO_DATA = ['--init', 'scratch', '--n-layer', '1', '--n-head', '2', '--n-embd', '64', '--block-size', '32', '--batch-size', '2'];
const TINY = [...TINY_NO_DATA, '--data', chat];
const ckpt = join(dir, 'ckpt'); // written by the first test, used by the later ones

t('shellWord: the printed commands (--resume, the page\'s download) give each word back to a shell as it was', () => {
  for (const w of ['out/chat', 'User', 'a b', "it's", '$HOME', '*', '{a,b}', '~root', 'x:y', '=ls', 'a=b', 'Ünï', '%1', '-x', '']) {
    const r = spawnSync('sh', ['-c', `printf '%s' ${shellWord(w)}`], { encoding: 'utf8' });
    assert.is(r.stdout, w, `${w} -> ${shellWord(w)}`);
  }
  // zsh expands a leading = to a command's path: quoted
  assert.is(shellWord('=ls'), "'=ls'");
  assert.is(shellWord('out/chat'), 'out/chat', 'plain words stay as they are');
});

t('train.js: a few steps print progress lines, write the --log and a full checkpoint', async () => {
  const log = join(dir, 'train.jsonl');
  const r = await run('train', [...TINY, '--steps', '4', '--out', ckpt, '--log', log]);
  assertOk(r, 'train');
  const lines = progress(r.stdout);
  assert.equal(lines.map((l) => l.step), [1, 2, 3, 4], `progress lines (loss, tok/s, ETA) in:\n${r.stdout}`);
  assert.ok(lines.every((l) => l.of === 4 && l.tokPerS > 0));
  assert.match(r.stdout, /^done: 4 steps/m);
  assert.match(r.stdout, new RegExp(`^chat with it: node dist/chat.js --init ${ckpt}$`, 'm'));
  for (const f of ['model.safetensors', 'config.json', 'optimizer.safetensors', 'train_state.json', 'loss.svg']) {
    assert.ok(existsSync(join(ckpt, f)) && statSync(join(ckpt, f)).size > 0, `checkpoint file ${f}`);
  }
  const config = JSON.parse(readFileSync(join(ckpt, 'config.json'), 'utf8'));
  assert.equal([config.n_layer, config.n_head, config.n_embd], [1, 2, 64]);
  assert.is(JSON.parse(readFileSync(join(ckpt, 'train_state.json'), 'utf8')).step, 4);
  assert.match(readFileSync(join(ckpt, 'loss.svg'), 'utf8'), /<svg/);
  const entries = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(entries.map((e) => e.step), [1, 2, 3, 4], 'one JSON object per step');
  entries.forEach((e, i) => {
    assert.ok(Number.isFinite(e.loss) && e.lr > 0 && e.tokens_per_s > 0, JSON.stringify(e));
    assert.is(e.loss.toFixed(4), lines[i].loss, 'logged loss = printed loss');
  });
});

t('train.js: what the parser noticed is printed under the data lines, one line each', async () => {
  const odd = join(dir, 'odd.txt');
  writeFileSync(odd, `${SMALL_CHAT}\nHuman: Hi\n\nBot: Hello\nhuman: and you?\n`);
  const o = await run('train', [...TINY_NO_DATA, '--data', odd, '--steps', '1', '--out', join(dir, 'odd-run')]);
  assertOk(o, 'train on odd.txt');
  // the training line counts what trains, not the whole file (5 conversations, 1 held out)
  assert.match(o.stdout, /^data: training: .*odd\.txt: 4 conversations -> .*\ndata: validation: held out of .*odd\.txt: 1 conversation -> .*\nnote: 1 line starts with a tag that is not exactly "Human:"\/"Bot:" .*--human\/--bot\) \(first: line 15\)\nnote: 1 conversation starts with a turn tagged "Bot:" .* \(first: line 14\)$/m);
});

/** SIGINT once the first step's progress line of `p` is out (not step 0's validation line); returns the finished run and ms from signal to exit */
async function interruptAfterFirstStep(p: Proc): Promise<{ r: Done; ms: number }> {
  p.child.stdin!.end();
  await waitForStdout(p, /^step +[1-9]\d*\/\d+ \| /m);
  const t0 = performance.now();
  p.child.kill('SIGINT');
  const r = await p.done;
  return { r, ms: performance.now() - t0 };
}

function assertSavedOnInterrupt({ r, ms }: { r: Done; ms: number }, out: string, what: string): number {
  assertOk(r, what);
  assert.ok(ms < 30_000, `${what}: exit took ${ms.toFixed(0)} ms after SIGINT`);
  assert.match(r.stdout, /interrupt: finishing this step and saving a checkpoint/);
  const last = progress(r.stdout).at(-1)!.step;
  assert.match(r.stdout, new RegExp(`^saved checkpoint at step ${last} to `, 'm'));
  assert.match(r.stdout, new RegExp(`^continue the run: node dist/train.js --resume --out ${out}$`, 'm'), `${what}: how to go on`);
  assert.is(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step, last, `${what}: checkpoint step = last printed step`);
  return last;
}

t('train.js: Ctrl-C finishes the step, saves, exits 0; --resume continues at the next step with the same schedule', async () => {
  const out = join(dir, 'interrupted'), log = join(dir, 'interrupted.jsonl');
  const first = assertSavedOnInterrupt(await interruptAfterFirstStep(start('train', [...TINY, '--steps', '1000', '--out', out, '--log', log])), out, 'interrupted run');
  assert.ok(first >= 1 && first < 1000);
  // the same command again, without --resume, would start over and replace the checkpoint: refused
  const rerun = await run('train', [...TINY, '--steps', '1000', '--out', out]);
  assertOneLineError(rerun, [new RegExp(`already holds a checkpoint \\(step ${first} of a run\\)`), /--resume/, /--overwrite/], 'a new run over a checkpoint');
  assert.is(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step, first, 'the checkpoint stays');

  // --resume alone: the run's own total steps and learning-rate schedule (from-scratch defaults:
  // lr 3e-3, min lr 3e-4, 5% warmup), not the fine-tuning defaults
  const p = start('train', [...DATA, '--resume', '--out', out, '--log', log]);
  const again = await interruptAfterFirstStep(p);
  assert.match(again.r.stdout, new RegExp(`^resumed at step ${first}$`, 'm'));
  assert.equal(progress(again.r.stdout).map((l) => [l.step, l.of])[0], [first + 1, 1000], 'first progress line after resuming');
  const second = assertSavedOnInterrupt(again, out, 'resumed, interrupted again');
  const lrs = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((e) => [e.step, e.lr]);
  const schedule = { lr: 3e-3, minLr: 3e-3 / 10, warmup: 50, schedule: 'cosine' as const, steps: 1000 };
  assert.equal(lrs, Array.from({ length: second }, (_, i) => [i + 1, learningRate(schedule, i)]), 'one schedule across the interruptions');

  const res = await run('train', [...DATA, '--resume', '--out', out, '--steps', String(second + 2)]);
  assertOk(res, 'resumed run');
  assert.match(res.stdout, new RegExp(`^resumed at step ${second}$`, 'm'));
  assert.equal(progress(res.stdout).map((l) => [l.step, l.of]), [[second + 1, second + 2], [second + 2, second + 2]]);
  assert.is(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step, second + 2);

  // --steps at or below the checkpoint's step: nothing to do, and the checkpoint stays as it is
  const done = await run('train', [...DATA, '--resume', '--out', out, '--steps', String(second + 2)]);
  assertOneLineError(done, [/already at step \d+/, /--steps/], '--resume with nothing left to do');
  assert.is(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step, second + 2);
});

t('train.js: SIGHUP (its terminal closed, and its stdout with it) finishes the step, saves and exits 0, as Ctrl-C does', async () => {
  const out = join(dir, 'hangup');
  const p = start('train', [...TINY, '--steps', '1000', '--out', out]);
  p.child.stdin!.end();
  await waitForStdout(p, /^step +[1-9]\d*\/\d+ \| /m);
  const shown = progress(p.stdout()).at(-1)!.step;
  p.child.stdout!.destroy(); // the terminal is gone: its next lines get EPIPE
  p.child.kill('SIGHUP');
  const r = await p.done;
  assert.is(r.code, 0, `exit code ${r.code} (signal ${r.signal})\n${r.stderr}`);
  assert.equal(stderrLines(r.stderr), [], 'no stack trace');
  const saved = JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step;
  assert.ok(saved >= shown && saved < 1000, `saved at step ${saved} (${shown} shown)`);
});

t('train.js --overwrite killed before its first save leaves the earlier run whole (its checkpoint and its --log, which --resume continues); its first save replaces both', async () => {
  const out = join(dir, 'overwritten'), log = join(dir, 'overwritten.jsonl'); // the log outside --out
  const steps = () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assertOk(await run('train', [...TINY, '--steps', '2', '--out', out, '--log', log]), 'the earlier run');
  const earlier = readFileSync(log, 'utf8');
  // a new run over it (--save-interval 0: it saves only at its end), killed (a crash) after a step
  const p = start('train', [...TINY, '--steps', '1000', '--save-interval', '0', '--out', out, '--log', log, '--overwrite']);
  p.child.stdin!.end();
  await waitForStdout(p, /^step +2\/1000 \| loss /m); // step 1 is logged (a step's line is printed before it is)
  // a second run with the same --log (another --out) while it runs: refused, its FILE.new not emptied
  const aside = readFileSync(`${log}.new`, 'utf8');
  assert.ok(aside.length > 0);
  assertOneLineError(await run('train', [...TINY, '--steps', '2', '--out', join(dir, 'overwritten-too'), '--log', log, '--overwrite']),
    [new RegExp(`^error: --log .*overwritten\\.jsonl is in use by another trainer \\(pid ${p.child.pid}\\); wait for it to finish, stop it, or pass another --log; if no trainer runs, remove .*overwritten\\.jsonl\\.lock$`)], 'a second run on a live run\'s --log');
  assert.ok(readFileSync(`${log}.new`, 'utf8').startsWith(aside), 'the live run\'s steps stay');
  // without --overwrite too: in use (it said to pass --overwrite, which was then refused)
  assertOneLineError(await run('train', [...TINY, '--steps', '2', '--out', join(dir, 'overwritten-too'), '--log', log]),
    [new RegExp(`^error: --log .*overwritten\\.jsonl is in use by another trainer \\(pid ${p.child.pid}\\)`)], 'a second run without --overwrite');
  p.child.kill('SIGKILL');
  await p.done;
  assert.is(readFileSync(log, 'utf8'), earlier, 'the earlier run\'s log stays as it was');
  assert.is(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step, 2, 'and so does its checkpoint');
  // the killed run's FILE.new (and lock) are left: the next run on the log says so and removes it
  const resumed = await run('train', [...DATA, '--resume', '--out', out, '--steps', '3']);
  assertOk(resumed, '--resume of the earlier run');
  assert.match(resumed.stdout, /^note: --log .*overwritten\.jsonl: removed .*overwritten\.jsonl\.new, the steps of a new run stopped before its first save \(no checkpoint has them\)$/m);
  assert.not.ok(existsSync(`${log}.new`), 'the killed run\'s FILE.new lingered');
  assert.not.ok(existsSync(`${log}.lock`));
  assert.ok(readFileSync(log, 'utf8').startsWith(earlier));
  assert.equal(steps(), [1, 2, 3], 'its log goes on after its own steps');

  // run to its end, the new run's one save puts its log in place of the earlier one with its checkpoint
  // (a FILE.new left by a killed run is replaced, and said)
  writeFileSync(`${log}.new`, '{"step":1,"loss":9}\n');
  const r = await run('train', [...TINY, '--steps', '2', '--save-interval', '0', '--out', out, '--log', log, '--overwrite']);
  assertOk(r, 'the new run');
  assert.match(r.stdout, /^note: --log .*overwritten\.jsonl: removed .*overwritten\.jsonl\.new, the steps of a new run stopped before its first save/m);
  assert.match(r.stdout, /^log: .*overwritten\.jsonl\.new until the first save, which moves it over .*overwritten\.jsonl with the checkpoint \(a run killed before then leaves .*overwritten\.jsonl as it was; Ctrl-C saves, and so moves it\)$/m);
  assert.equal(steps(), [1, 2]);
  assert.equal(readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss.toFixed(4)), progress(r.stdout).map((l) => l.loss), 'the new run\'s losses');
  assert.not.ok(existsSync(`${log}.new`));
  assert.is(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step, 2);

  // FILE.new that cannot be written (here a directory in the way; or FILE's directory read-only, FILE
  // itself writable) is refused before anything loads: the run went on and logged none of its steps
  mkdirSync(`${log}.new`);
  const before = readFileSync(log, 'utf8');
  assertOneLineError(await run('train', [...TINY, '--steps', '2', '--out', out, '--log', log, '--overwrite']),
    [/^error: --log .*overwritten\.jsonl: cannot write .*overwritten\.jsonl\.new \(this run's steps go there until its first save\): .*\(EISDIR\); pass another --log$/], 'FILE.new a directory');
  assert.is(readFileSync(log, 'utf8'), before);
  rmSync(`${log}.new`, { recursive: true });

  // Ctrl-C is no kill: its save is the first, and replaces both
  const stopped = assertSavedOnInterrupt(await interruptAfterFirstStep(start('train', [...TINY, '--steps', '1000', '--save-interval', '0', '--out', out, '--log', log, '--overwrite'])), out, 'a new run stopped by Ctrl-C');
  assert.equal(steps(), Array.from({ length: stopped }, (_, i) => i + 1));
  assert.not.ok(existsSync(`${log}.new`));
});

t('train.js --overwrite with --log a symbolic link: the first save replaces the file it links to, and the link stays', async () => {
  mkdirSync(join(dir, 'links')), mkdirSync(join(dir, 'logs'));
  const link = join(dir, 'links', 'run.jsonl'), target = join(dir, 'logs', 'run.jsonl');
  writeFileSync(target, '');
  symlinkSync('../logs/run.jsonl', link); // relative, as ln -s makes them
  const out = join(dir, 'linked');
  assertOk(await run('train', [...TINY, '--steps', '1', '--out', out, '--log', link]), 'the earlier run');
  const r = await run('train', [...TINY, '--steps', '2', '--out', out, '--log', link, '--overwrite']);
  assertOk(r, 'the new run');
  assert.match(r.stdout, /^log: .*logs\/run\.jsonl\.new until the first save, which moves it over .*logs\/run\.jsonl with the checkpoint/m);
  assert.ok(lstatSync(link).isSymbolicLink(), 'the link was replaced by a plain file');
  assert.equal(readFileSync(target, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step), [1, 2], 'the linked file holds the new run\'s steps');
  assert.equal([...readdirSync(join(dir, 'links')), ...readdirSync(join(dir, 'logs'))], ['run.jsonl', 'run.jsonl'], 'no .new or .lock left');
});

/**
 * A Hugging Face hub that takes the download's request and never answers, and an empty cache
 * (`cache`, under dir): `env` points a command at them; `downloading` resolves once it asks.
 */
async function stalledHub(cache: string): Promise<{ env: Record<string, string | undefined>; downloading: Promise<void>; close: () => void }> {
  let asked: () => void = () => {};
  const downloading = new Promise<void>((r) => (asked = r));
  const stalled = createServer(() => asked());
  await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
  const c = join(dir, cache);
  const env = { HF_ENDPOINT: `http://127.0.0.1:${(stalled.address() as AddressInfo).port}`, HF_HOME: c, XDG_CACHE_HOME: c, HF_HUB_CACHE: undefined, HUGGINGFACE_HUB_CACHE: undefined, GPT2_DIR: undefined, HF_HUB_OFFLINE: undefined };
  return { env, downloading, close: () => { stalled.closeAllConnections(); stalled.close(); } };
}

t('train.js: Ctrl-C before the first step (here while the weights download) stops at once and says nothing was saved; bad flags and data are reported before any download', async () => {
  const out = join(dir, 'early');
  const { env, downloading, close } = await stalledHub('empty-cache');
  try {
    const p = start('train', ['--init', 'gpt2', ...DATA, '--steps', '5', '--out', out], { env });
    p.child.stdin!.end();
    await downloading; // the trainer is waiting on the weights: its early handlers are in place
    p.child.kill('SIGINT');
    const r = await p.done;
    assert.is(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stdout, /^interrupt before the first step: nothing trained, nothing saved$/m);
    assert.not.ok(existsSync(join(out, 'model.safetensors')));
    // the download would hang until its 15 s timeout and fail: these never reach it
    for (const [args, patterns] of [
      [['--data', join(dir, 'nope.txt')], [/dataset file not found/, /nope\.txt/]],
      // in the run's tags, not Human/Bot
      [['--data', join(dir, 'nope.txt'), '--human', 'User', '--bot', 'AI'], [/dataset file not found/, /lines starting "User:"\/"AI:"/]],
      [[...DATA, '--steps', '0'], [/--steps must be a whole number of at least 1/]],
      [[...DATA, '--lr', '-1'], [/--lr must be a positive number/]],
      [[...DATA, '--lora', '0'], [/--lora must be a whole number of at least 1/]],
      [[...DATA, '--lora', '4', '--lora-dropout', '1.5'], [/--lora-dropout must be in \[0, 1\)/]],
      [[...DATA, '--lora', '4', '--sampled-softmax', '64'], [/a LoRA run keeps it frozen: leave --sampled-softmax out/]],
      [[...DATA, '--dtype', 'f16'], [/--dtype f16 keeps the frozen base of a LoRA run in f16/]],
      [['--data', ''], [/^error: --data is empty: pass a chat text file/]],
      [[...DATA, '--human', 'Bot'], [/^error: --human\/--bot: the human and bot tags are both 'Bot': give the speakers different tags$/]],
      [[...DATA, '--time', '0'], [/^error: --time must be a positive duration, got 0$/]],
      [[...DATA, '--time', '1m', '--steps', '5'], [/^error: pass either --steps or --time, not both$/]],
    ] as [string[], RegExp[]][]) {
      const r = await run('train', ['--init', 'gpt2', ...args, '--out', join(dir, 'never-early')], '', { env });
      assertOneLineError(r, patterns, args.join(' '));
      // flags wrong whatever the data do not wait for the adapter to open (seconds on lavapipe, and Dawn's warnings above the error)
      if (!args.includes(join(dir, 'nope.txt'))) assert.not.match(r.stdout, /^adapter: /m, `${args.join(' ')}: the adapter was opened first`);
    }
  } finally {
    close();
  }
});

t('train.js --merge-adapter: Ctrl-C while the base downloads stops at once, nothing written (it waited for the download to end)', async () => {
  const adapter = join(dir, 'merge-early-adapter'), out = join(dir, 'merge-early');
  mkdirSync(adapter, { recursive: true });
  writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['c_attn'], base_model_name_or_path: 'gpt2' }));
  const { env, downloading, close } = await stalledHub('merge-empty-cache');
  try {
    const p = start('train', ['--merge-adapter', adapter, '--init', 'gpt2', '--out', out], { env });
    p.child.stdin!.end();
    await downloading;
    const t0 = Date.now();
    p.child.kill('SIGINT');
    const r = await p.done;
    assert.is(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stdout, /^interrupt before the merge was saved: nothing written$/m);
    assert.ok(Date.now() - t0 < 10_000, 'at once, not when the download times out (15 s)');
    assert.not.ok(existsSync(out));
  } finally {
    close();
  }
});

t('train.js: a signal while the data loads stops the run there, before the data is tokenized to the end', async () => {
  // data/chat.txt takes seconds to tokenize; the packing yields to the event loop, so the handler runs at once
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const out = join(dir, `loading-${sig}`);
    const p = start('train', ['--init', 'scratch', '--n-layer', '1', '--n-head', '2', '--n-embd', '64', '--data', 'data/chat.txt', '--steps', '50', '--out', out]);
    p.child.stdin!.end();
    await waitForStdout(p, /^init: /m);
    p.child.kill(sig);
    const r = await p.done;
    assert.is(r.code, code, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^${sig === 'SIGINT' ? 'interrupt' : sig} before the first step: nothing trained, nothing saved$`, 'm'));
    assert.not.match(r.stdout, /^data: .* conversations -> /m, 'stopped while tokenizing, not after');
    assert.not.match(r.stdout, /^step /m);
    assert.not.ok(existsSync(out), 'the --out this run created goes again (no lock left in it)');
  }
  // a resumed run: its checkpoint stays, and the message says so ("nothing saved" read as if it were lost)
  const resumed = join(dir, 'loading-resume');
  mkdirSync(resumed);
  for (const f of ['model.safetensors', 'config.json', 'optimizer.safetensors', 'train_state.json']) copyFileSync(join(ckpt, f), join(resumed, f));
  const p = start('train', ['--resume', '--out', resumed, '--data', 'data/chat.txt', '--steps', '50']);
  p.child.stdin!.end();
  await waitForStdout(p, /^resuming from /m);
  p.child.kill('SIGINT');
  const r = await p.done;
  assert.is(r.code, 130, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^interrupt before the first step: nothing trained, the checkpoint in ${resumed} stays as it was$`, 'm'));
  assert.is(JSON.parse(readFileSync(join(resumed, 'train_state.json'), 'utf8')).step, 4);
});

t('train.js: a signal during a new run\'s step-0 validation stops at once (no step trained first to be saved)', async () => {
  // a long evaluation: data/chat.txt's thousands of windows, one per batch
  const out = join(dir, 'step0-signal');
  const p = start('train', ['--init', 'scratch', '--n-layer', '1', '--n-head', '2', '--n-embd', '64', '--data', chat, '--val-data', 'data/chat.txt',
    '--block-size', '64', '--batch-size', '1', '--eval-steps', '5000', '--steps', '50', '--out', out]);
  p.child.stdin!.end();
  await waitForStdout(p, /^training: /m);
  p.child.kill('SIGINT');
  const r = await p.done;
  assert.is(r.code, 130, r.stdout + r.stderr);
  assert.match(r.stdout, /^interrupt before the first step: nothing trained, nothing saved$/m);
  assert.not.match(r.stdout, /^step /m, 'neither the step-0 line nor a step');
  assert.not.ok(existsSync(out), 'the --out this run created goes again');
});

t('chat.js where nothing names a model and there is no out/chat: a failed gpt2 download says why gpt2 was tried', async () => {
  const empty = join(dir, 'no-checkpoint-here');
  mkdirSync(empty, { recursive: true });
  const cache = join(dir, 'empty-cache-2');
  const env = { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HOME: cache, XDG_CACHE_HOME: cache, HF_HUB_CACHE: undefined, HUGGINGFACE_HUB_CACHE: undefined, GPT2_DIR: undefined, HF_HUB_OFFLINE: undefined };
  const r = await run('chat', ['--prompt', 'hi'], '', { env, cwd: empty });
  assertOneLineError(r, [/^error: no --init given and no out\/chat here \(node dist\/train\.js writes it\), so gpt2 was tried: could not download the gpt2 weights/], 'no model anywhere');
});

t('bench.js: an unknown flag or group is a one-line error, not a run of every benchmark', () => {
  for (const [args, pattern] of [
    [['--filer', 'residual'], /^error: unknown flag --filer: did you mean --filter\? \(see --help\)$/],
    [['--filter', 'nosuch'], /^error: --filter 'nosuch' names no group; the groups are .*\bresidual\b.*\bserve\b/],
    // an unset shell variable: not a run of every group
    [['--filter', ''], /^error: --filter '' names no group; the groups are /],
    [['--case', ''], /^error: --case '' matches every case: give a regular expression/],
    [['--reps', '0'], /^error: --reps expects a positive integer, got '0'$/],
    [['--case', '('], /^error: --case \(: not a regular expression/],
  ] as [string[], RegExp][]) {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr.trim().split('\n').filter((l) => !l.startsWith('Warning:')).join('\n'), pattern, args.join(' '));
  }
});

t('bench.js --json: the JSON alone on stdout, the table as progress on stderr while it runs', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench.js'), '--json', '--filter', 'gelu', '--reps', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.results.map((x: { name: string }) => x.name), ['geluForward', 'geluBackward']);
  const rows = stderrLines(r.stderr);
  assert.match(rows[0], /^adapter: .*; median of 1$/);
  assert.equal(rows.slice(1).map((l) => l.split(/\s+/).slice(0, 2).join(' ')), ['gelu geluForward', 'gelu geluBackward'], r.stderr);
});

t('bench.js --list-adapters --json: the adapters as JSON alone on stdout, not the table', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench.js'), '--list-adapters', '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.ok(j.adapters.length > 0, r.stdout);
  for (const x of j.adapters) {
    assert.ok(typeof x.name === 'string' && typeof x.backend === 'string' && typeof x.isDefault === 'boolean' && Array.isArray(x.features), JSON.stringify(x));
  }
});

t("bench.js --list-adapters with a benchmark run's flag (--filter, --reps, ...) is an error naming it, not a list that drops it", () => {
  for (const extra of [['--filter', 'gelu'], ['--reps', '3'], ['--wall']]) {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench.js'), '--list-adapters', ...extra], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 1, `${extra[0]}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`^error: --list-adapters takes only --json; ${extra[0]} is for a benchmark run`, 'm'), extra[0]);
    assert.is(r.stdout, '', `${extra[0]}: nothing listed`);
  }
});

t('bench.js --help says the --reps and --batch a run uses when they are not given, on this adapter', async () => {
  const help = spawnSync(process.execPath, [join(ROOT, 'dist/bench.js'), '--help'], { encoding: 'utf8', timeout: 60_000 }).stdout;
  const column = (await gpu()).isCpu ? 2 : 3;
  // '--reps runs (3 on a CPU adapter, 20 on a GPU)': the flag, then its two defaults
  const said = new Map([...help.matchAll(/(--[a-z]+)\b[^-]*?(\d+) on a CPU adapter, (\d+) on a GPU/g)].map((m) => [m[1], +m[column]]));
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench.js'), '--json', '--filter', 'gelu', '--case', 'geluForward'], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.reps, said.get('--reps'), help);
  assert.is(j.batch, said.get('--batch'), help);
});

t('README.md describes every flag of every command\'s --help (a flag found only in --help or the code is a gap in the contract)', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const name of ['train', 'chat', 'eval', 'serve', 'bench']) {
    const r = spawnSync(process.execPath, [join(ROOT, `dist/${name}.js`), '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, r.stderr);
    // the flag table ('  --top-k N   ...'), or bench's usage lines ('[--reps N]')
    const flags = [...r.stdout.matchAll(name === 'bench' ? /\[(--[a-z0-9-]+)/g : /^ {2}(--[a-z0-9-]+)/gm)].map((m) => m[1]);
    assert.ok(flags.length > 3, r.stdout);
    const missing = flags.filter((f) => !new RegExp(`${f}(?![a-z0-9-])`).test(readme));
    assert.equal(missing, [], `${name}.js --help flags that README.md never names`);
  }
});

t('--init takes OpenAI\'s four GPT-2 sizes by name: every command\'s --help and README.md name each', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const size of ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl']) {
    assert.ok(isHubModel(size) && isHubModel(`openai-community/${size}`), size);
    assert.match(readme, new RegExp(`\`${size}\``), `README.md names ${size} as an --init value`);
    for (const name of ['train', 'chat', 'eval', 'serve']) {
      const help = spawnSync(process.execPath, [join(ROOT, `dist/${name}.js`), '--help'], { encoding: 'utf8', timeout: 60_000 }).stdout;
      assert.match(help, new RegExp(`^ {2}--init STR .*\\b${size}\\b`, 'm'), `${name}.js --help names ${size}`);
    }
  }
});

t('a seed beyond ±2^53 (a double no longer the integer typed): chat.js and eval.js refuse it in one line, as /set, the page and serve.js do', async () => {
  const big = '9007199254740993'; // 2^53 + 1 reads as 2^53: two seeds typed apart would sample alike
  const want = `an integer between ±${Number.MAX_SAFE_INTEGER}`;
  for (const name of ['chat', 'eval'] as const) {
    assertOneLineError(await run(name, ['--seed', big, '--init', join(dir, 'no-such-dir')]), [new RegExp(`^error: --seed expects ${want}, got '${big}'$`)], `${name}.js --seed ${big}`);
  }
  assert.is(applySetting(defaultChatOptions(), 'seed', big), `seed must be ${want}, got ${big}`, '/set seed');
  assert.is(applySetting(defaultChatOptions(), 'seed', String(-Number.MAX_SAFE_INTEGER)), null, 'the largest seeds held exactly are taken');
  assert.is(apiValueProblem('seed', Number(big)), `must be ${want}`, "the page's form");
  const model = { id: 'tiny', contextLength: 1024, vocabSize: 50257, created: 1 };
  assert.throws(() => parseChatRequest({ messages: [{ role: 'user', content: 'hi' }], seed: Number(big) }, model, () => 1),
    (e: Error) => e.message === `Invalid value for 'seed': ${Number(big)} must be ${want}.`, 'serve.js');
});

t('a command that exits before reading its stdin (a bad flag) while a test still writes to it: the test gets its exit code, the run goes on', async () => {
  // 4 MiB fills the pipe, so the write is still pending when chat.js exits: EPIPE. Unhandled,
  // that error ended the whole test run part way (CI, weights.test's three commands at once).
  const r = await run('chat', ['--no-such-flag'], 'Hi\n'.repeat(1 << 20));
  assertOneLineError(r, [/--no-such-flag/], 'chat.js, an unknown flag');
});

t('--resume without repeating the flags continues the run exactly (seed, block size, accumulation, order, schedule)', async () => {
  const flags = ['--seed', '5', '--block-size', '16', '--grad-accum', '2', '--order', 'random', '--schedule', 'constant', '--warmup', '0', '--lr', '0.004'];
  const losses = (log: string) => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
  const whole = join(dir, 'whole.jsonl'), split = join(dir, 'split.jsonl');
  assertOk(await run('train', [...TINY, ...flags, '--steps', '4', '--out', join(dir, 'whole'), '--log', whole]), 'uninterrupted');
  assertOk(await run('train', [...TINY, ...flags, '--steps', '2', '--out', join(dir, 'split'), '--log', split]), 'first half');
  // the first command again with --resume: its --init is not the run's weights, and says so
  const resumed = await run('train', [...TINY, ...flags, '--resume', '--steps', '4', '--out', join(dir, 'split'), '--log', split]);
  assertOk(resumed, 'resumed half');
  assert.match(resumed.stdout, /^--init scratch: not used; --resume continues the weights in .*split$/m);
  assert.equal(losses(split), losses(whole));
});

t('a reader that goes away (| head): chat.js exits quietly, train.js trains on and still saves on Ctrl-C', async () => {
  const c = start('chat', ['--init', ckpt, '--max-new-tokens', '4'], { timeoutMs: 60_000 });
  c.child.stdin!.write('Hello there\n');
  await waitForStdout(c, /Bot: /);
  c.child.stdout!.destroy(); // closes our end of the pipe: the next write gets EPIPE
  c.child.stdin!.end('How are you?\nAnd now?\n');
  const cr = await c.done;
  assertOk(cr, 'chat with a closed stdout');
  assert.not.match(cr.stderr, /EPIPE|^ {4}at /m, cr.stderr);

  const out = join(dir, 'headless');
  const p = start('train', [...TINY, '--steps', '1000', '--out', out]);
  p.child.stdin!.end();
  await waitForStdout(p, /^step +1\/1000 /m);
  p.child.stdout!.destroy();
  await new Promise((res) => setTimeout(res, 1500)); // a step or more, printed into the closed pipe
  p.child.kill('SIGINT');
  const r = await p.done;
  assertOk(r, 'train with a closed stdout');
  assert.not.match(r.stderr, /EPIPE|^ {4}at /m, r.stderr);
  assert.ok(JSON.parse(readFileSync(join(out, 'train_state.json'), 'utf8')).step >= 1, 'saved on Ctrl-C');
});

t('--help lists the flags; bad flags, data and checkpoints fail with one readable line', async () => {
  for (const [name, flags] of [
    ['train', ['--init', '--data', '--out', '--resume', '--overwrite', '--steps', '--batch-size', '--block-size', '--lr', '--log', '--n-layer', '--help']],
    ['chat', ['--init', '--dtype', '--prompt', '--raw', '--persona', '--temperature', '--top-k', '--max-new-tokens', '--seed', '--help']],
  ] as const) {
    const h = await run(name, ['--help']);
    assertOk(h, `${name} --help`);
    assert.match(h.stdout, new RegExp(`^usage: node dist/${name}\\.js`));
    for (const f of flags) assert.match(h.stdout, new RegExp(`^  ${f}\\b`, 'm'), `${name} --help lists ${f}`);
    assert.is(stderrLines(h.stderr).length, 0, h.stderr);
    assert.is((await run(name, ['-h'])).stdout, h.stdout, `${name} -h is --help`);
    if (name === 'train') assert.match(h.stdout, /^  --lr N .*\(default 3e-3 from scratch, 6e-5 fine-tuning, 1e-3 with --lora\)$/m, 'every default learning rate');
  }

  // a checkpoint cut short, and one whose config.json disagrees with its tensors
  const trunc = join(dir, 'truncated'), shape = join(dir, 'wrong-shape');
  for (const d of [trunc, shape]) {
    mkdirSync(d);
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(ckpt, f), join(d, f));
  }
  truncateSync(join(trunc, 'model.safetensors'), statSync(join(trunc, 'model.safetensors')).size - 100);
  const config = JSON.parse(readFileSync(join(shape, 'config.json'), 'utf8'));
  writeFileSync(join(shape, 'config.json'), JSON.stringify({ ...config, n_positions: 128, n_ctx: 128 }));
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  const utf16 = join(dir, 'utf16.txt');
  writeFileSync(utf16, Buffer.from(`\ufeff${SMALL_CHAT}`, 'utf16le'));
  const out = ['--out', join(dir, 'never'), '--steps', '1'];

  const cases: [string, 'train' | 'chat', string[], RegExp[]][] = [
    ['unknown flag', 'train', ['--bogus'], [/^error: unknown flag --bogus \(see --help\)$/]],
    // the names /set and Hugging Face use, and a prefix: the flag meant is named
    ['flag with underscores', 'chat', ['--max_new_tokens', '5'], [/^error: unknown flag --max_new_tokens: did you mean --max-new-tokens\? \(see --help\)$/]],
    ['flag cut short', 'chat', ['--temp', '0.5'], [/unknown flag --temp: did you mean --temperature\?/]],
    ['chat: a message without --prompt', 'chat', ['Hello there'], [/^error: unexpected argument 'Hello there': a message to answer goes after --prompt, a model after --init \(see --help\)$/]],
    ['flag misspelt', 'train', ['--stpes', '5'], [/unknown flag --stpes: did you mean --steps\?/]],
    // two letters swapped are one typo: --dtaa is as near --data as --dta
    ['flag with two letters swapped', 'train', ['--dtaa', 'x.txt'], [/^error: unknown flag --dtaa: did you mean --data\? \(see --help\)$/]],
    ['flag with its words in another order', 'train', ['--lr-min', '1e-5'], [/^error: unknown flag --lr-min: did you mean --min-lr\? \(see --help\)$/]],
    ['bad value', 'train', ['--steps', 'abc'], [/--steps/, /'abc'/]],
    ['--overwrite with --resume', 'train', [...DATA, '--resume', '--overwrite', '--out', ckpt], [/--overwrite starts a new run/, /--resume continues it/]],
    ['missing --data', 'train', [...TINY_NO_DATA, ...out, '--data', join(dir, 'nope.txt')], [/not found/, /nope\.txt/]],
    ['empty data file', 'train', [...TINY_NO_DATA, ...out, '--data', empty], [/empty/, /empty\.txt/]],
    ['UTF-16 data file', 'train', [...TINY_NO_DATA, ...out, '--data', utf16], [/utf16\.txt: the file is UTF-16, not UTF-8: save it as UTF-8$/]],
    ['truncated model.safetensors', 'train', [...DATA, ...out, '--init', trunc], [/model\.safetensors/, /truncated/]],
    ['config.json shape mismatch', 'train', [...DATA, ...out, '--init', shape], [/wpe\.weight/, /\[32, 64\]/, /expected \[128, 64\]/]],
    ['chat: bad value', 'chat', ['--temperature', 'hot'], [/--temperature/, /'hot'/]],
    ['chat: an empty --prompt', 'chat', ['--init', ckpt, '--prompt', ' \n'], [/^error: --prompt is empty: give the message to answer/]],
    // --raw continues the text alone: a persona would be dropped without a word
    ['chat: --persona with --raw', 'chat', ['--init', ckpt, '--raw', '--persona', 'You are a pirate.', '--prompt', 'hi'], [/^error: --persona is for chat mode: --raw continues the text as given/]],
    // an unset shell variable: not a stop string silently dropped
    ['chat: an empty --stop', 'chat', ['--init', join(dir, 'no-such-dir'), '--stop', '\\n\\n', '--stop', '', '--prompt', 'hi'], [/^error: --stop '': an empty stop string stops nothing: give the text to stop at \(e\.g\. --stop '\\n\\n'\), or leave --stop out$/]],
    ['chat: the same tag twice', 'chat', ['--human', 'Bot', '--prompt', 'hi'], [/--human\/--bot: the human and bot tags are both 'Bot'/]],
    // an unset shell variable: '--init : no such directory' read as a typo
    ['chat: an empty --init', 'chat', ['--init', '', '--prompt', 'hi'], [/^error: --init is empty: pass 'gpt2' \(or gpt2-medium/]],
    ['chat: missing --init dir', 'chat', ['--init', join(dir, 'no-such-dir'), '--prompt', 'hi'], [/no such directory/]],
    ['chat: truncated model.safetensors', 'chat', ['--init', trunc, '--prompt', 'hi'], [/truncated/]],
  ];
  for (const [what, name, args, patterns] of cases) assertOneLineError(await run(name, args), patterns, what);
  // an empty --out (an unset shell variable) was the current directory: the checkpoint landed there, shown as '/model.safetensors'
  const here = join(dir, 'empty-out');
  mkdirSync(here);
  assertOneLineError(await run('train', [...TINY, '--steps', '1', '--out', ''], '', { cwd: here }), [/^error: --out is empty: pass a directory for the checkpoint/], "train.js --out ''");
  assertOneLineError(await run('train', ['--merge-adapter', ckpt, '--out', ' '], '', { cwd: here }), [/^error: --merge-adapter DIR needs --out OUT/], "--merge-adapter --out ''");
  assertOneLineError(await run('train', [...DATA, '--init', '', '--steps', '1', '--out', join(here, 'o')]), [/^error: --init is empty: pass gpt2, scratch or a checkpoint directory/], "train.js --init '' ('--init : no such directory')");
  assert.equal(readdirSync(here), [], 'nothing written where the command ran');
  // away from the repository the default --data is not found: said as eval.js says it of data/eval.txt, with the way out
  assertOneLineError(await run('train', ['--init', 'scratch', ...out], '', { cwd: dir }),
    [/^error: the shipped chat data data\/chat\.txt is not in \/\S+: run train\.js from the repository's directory, or pass --data FILE$/], 'train.js away from the repository');
  // WEBGPU_BACKEND mistyped, or naming a backend the machine has no adapter for: said so, not 'no adapter found: run npm run setup'
  assertOneLineError(await run('chat', ['--init', ckpt, '--prompt', 'hi'], '', { env: { WEBGPU_BACKEND: 'vulkn' } }),
    [/^error: WEBGPU_BACKEND=vulkn is not one of Dawn's backends \(vulkan, metal, d3d12, d3d11, opengl, opengles, null, webgpu\): correct it, or unset it/], 'a mistyped WEBGPU_BACKEND');
  if (process.platform === 'linux') { // Direct3D exists only on Windows
    for (const adapter of [undefined, 'lavapipe']) {
      assertOneLineError(await run('chat', ['--init', ckpt, '--prompt', 'hi'], '', { env: { WEBGPU_BACKEND: 'd3d11', WEBGPU_ADAPTER: adapter } }),
        [/^error: no WebGPU adapter on the d3d11 backend \(WEBGPU_BACKEND\): unset it to let Dawn choose/], `WEBGPU_BACKEND=d3d11 on Linux, WEBGPU_ADAPTER=${adapter}`);
    }
  }
  assert.not.ok(existsSync(join(dir, 'never', 'model.safetensors')), 'failed runs write no checkpoint');
});

const replOptions = (o: Partial<ChatOptions>): ChatOptions => ({
  sampling: { ...DEFAULT_SAMPLING }, maxNewTokens: 8, seed: 1337, speakers: { human: 'Human', bot: 'Bot' },
  persona: '', stops: [], raw: false, quiet: true, ...o,
});

t('chat.js over a pipe: replies, /set, /persona, /history, /reset, /quit; exits with stdin still open', async () => {
  const script = 'Hello there\n/set temperature 0\nHow are you?\n/persona You are a pirate.\n/history\n/reset\n/history\n/quit\n';
  const p = start('chat', ['--init', ckpt, '--max-new-tokens', '8'], { timeoutMs: 60_000 });
  p.child.stdin!.write(script); // never ended: /quit alone must end the process
  const r = await p.done;
  p.child.stdin!.destroy();
  assertOk(r, 'chat REPL');
  const out = r.stdout;
  assert.ok((out.match(/^Bot: /gm) ?? []).length >= 4, `2 replies + 2 history lines:\n${out}`);
  let at = -1;
  for (const s of ['temperature = 0\n', '(persona set)\n', '(persona) You are a pirate.\n', 'Human: Hello there\n', 'Human: How are you?\n', '(new conversation)\n', '(no history)\n']) {
    const i = out.indexOf(s, at + 1);
    assert.ok(i > at, `'${s.trim()}' after the previous output in:\n${out}`);
    at = i;
  }
  assert.ok(stderrLines(r.stderr).every((l) => !/error/i.test(l)), r.stderr);

  // the same session in this process, on the same checkpoint, prints the same bytes
  const g = await gpu();
  const { generator } = await openGenerator(ckpt, { gpu: g });
  const input = new PassThrough(), output = new PassThrough();
  let expected = '';
  output.on('data', (d) => (expected += d));
  input.end(script);
  await runRepl(generator, replOptions({}), { input, output, isTTY: false, log: new PassThrough() });
  await new Promise((res) => setImmediate(res));
  assert.is(out, expected);
});

t('train.js run from another directory: the command it prints to chat with the result runs from there', async () => {
  const r = await run('train', [...TINY, '--steps', '1', '--out', 'elsewhere'], '', { cwd: dir });
  assertOk(r, 'train');
  const m = /^chat with it: (.*)$/m.exec(r.stdout);
  assert.is(m?.[1], `node ${join(ROOT, 'dist', 'chat.js')} --init elsewhere`);
  const chatThere = spawnSync('sh', ['-c', `${m![1]} --prompt hi --max-new-tokens 2`], { cwd: dir, encoding: 'utf8' });
  assert.is(chatThere.status, 0, chatThere.stderr);
});

t('chat.js on a run trained with --human User --bot Assistant: prompts and answers with those tags; the flags override them', async () => {
  const data = join(dir, 'ua.txt'), tagged = join(dir, 'tagged');
  writeFileSync(data, SMALL_CHAT.replace(/^Human:/gm, 'User:').replace(/^Bot:/gm, 'Assistant:'));
  assertOk(await run('train', [...TINY_NO_DATA, '--data', data, '--human', 'User', '--bot', 'Assistant', '--steps', '1', '--out', tagged]), 'train');
  const r = await run('chat', ['--init', tagged, '--max-new-tokens', '3'], 'Hello there\n/history\n');
  assertOk(r, 'chat');
  assert.match(r.stdout, /^Assistant: /m, r.stdout);
  assert.ok(r.stdout.includes('User: Hello there\n') && !/^(Human|Bot): /m.test(r.stdout), r.stdout);
  // the same session in this process with those tags prints the same bytes: the prompt is built with them
  const { generator } = await openGenerator(tagged, { gpu: await gpu() });
  const input = new PassThrough(), output = new PassThrough();
  let expected = '';
  output.on('data', (d) => (expected += d));
  input.end('Hello there\n/history\n');
  await runRepl(generator, replOptions({ maxNewTokens: 3, speakers: { human: 'User', bot: 'Assistant' } }), { input, output, isTTY: false, log: new PassThrough() });
  await new Promise((res) => setImmediate(res));
  assert.is(r.stdout, expected);
  const over = await run('chat', ['--init', tagged, '--max-new-tokens', '3', '--human', 'Me'], 'Hello\n/history\n');
  assert.ok(over.stdout.includes('Me: Hello\n') && /^Assistant: /m.test(over.stdout), over.stdout);
});

t('a model trained with --human User --bot AI carries its tags in config.json: without train_state.json, chat.js and serve.js prompt it as before', async () => {
  const data = join(dir, 'user-ai.txt'), tagged = join(dir, 'user-ai');
  writeFileSync(data, SMALL_CHAT.replace(/^Human:/gm, 'User:').replace(/^Bot:/gm, 'AI:'));
  assertOk(await run('train', [...TINY_NO_DATA, '--data', data, '--human', 'User', '--bot', 'AI', '--steps', '2', '--out', tagged]), 'train');
  assert.equal(JSON.parse(readFileSync(join(tagged, 'config.json'), 'utf8')).chat_speakers, { human: 'User', bot: 'AI' });
  const greedy = ['--prompt', 'Hello there', '--temperature', '0', '--repetition-penalty', '1', '--frequency-penalty', '0', '--max-new-tokens', '8', '--quiet'];
  const [before, asHumanBot] = await Promise.all([run('chat', ['--init', tagged, ...greedy]), run('chat', ['--init', tagged, '--human', 'Human', '--bot', 'Bot', ...greedy])]);
  assertOk(before, 'chat');
  assertOk(asHumanBot, 'chat as Human/Bot');
  assert.is.not(asHumanBot.stdout, before.stdout, 'the tags do not change the greedy reply: this test could not tell them apart');
  rmSync(join(tagged, 'train_state.json'));
  const after = await run('chat', ['--init', tagged, ...greedy]);
  assertOk(after, 'chat without train_state.json');
  assert.is(after.stdout, before.stdout);
  // serve.js prompts it so too, and tells the page (X-Model-Speakers)
  const serve = start('serve', ['--init', tagged, '--port', '0']);
  try {
    await waitForStdout(serve, /https?:\/\/\S+\/v1/);
    assert.match(serve.stdout(), /; prompts as User:\/AI:/);
    const base = /(https?:\/\/\S+)\/v1/.exec(serve.stdout())![1];
    const config = await fetch(`${base}/model/config.json`);
    assert.equal(parseSpeakersHeader(config.headers.get(SPEAKERS_HEADER)), { human: 'User', bot: 'AI' });
    const api = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello there' }], temperature: 0, max_tokens: 8 }),
    });
    const reply = await api.json() as { choices: { message: { content: string } }[] };
    assert.is(`${reply.choices[0].message.content}\n`, before.stdout, 'serve.js vs chat.js');
  } finally {
    serve.child.kill('SIGTERM');
    await serve.done;
  }
});

t('speaker tags: --human/--bot win over train_state.json, which wins over config.json; bad tags in config.json are a one-line error naming it', async () => {
  const d = join(dir, 'recorded');
  mkdirSync(d);
  const choice = { init: d, adapter: undefined, dtype: 'f32' as const, defaulted: false };
  writeFileSync(join(d, 'config.json'), configText(GPT2_124M, { human: 'User', bot: 'AI' }));
  assert.equal(speakersFromFlagsOrTraining({}, choice), { human: 'User', bot: 'AI' });
  // what train.js --human Me --bot You records: the run's own record, which --resume continues
  writeFileSync(join(d, 'train_state.json'), JSON.stringify({ step: 1, options: { human: 'Me', bot: 'You' } }));
  assert.equal(speakersFromFlagsOrTraining({}, choice), { human: 'Me', bot: 'You' });
  assert.equal(speakersFromFlagsOrTraining({ human: 'Human' }, choice), { human: 'Human', bot: 'You' });
  rmSync(join(d, 'train_state.json'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...hfConfigJson(GPT2_124M), chat_speakers: { human: 'AI', bot: 'AI' } }));
  assertOneLineError(await run('chat', ['--init', d, '--prompt', 'hi']), [/recorded\/config\.json: chat_speakers: the human and bot tags are both 'AI': give the speakers different tags$/], 'chat.js, the same tag twice in config.json');
});

t('chat.js --prompt: the same seed gives the same reply; --raw prints only the continuation', async () => {
  const args = ['--init', ckpt, '--prompt', 'Hi there', '--max-new-tokens', '5', '--seed', '1'];
  const a = await run('chat', args), b = await run('chat', args);
  assertOk(a, '--prompt');
  assertOk(b, '--prompt again');
  assert.ok(a.stdout.trim().length > 0, 'a reply');
  assert.is(a.stdout, b.stdout, 'reproducible sampling');
  assert.not.match(a.stdout, /^Bot:|prefill/m, 'the reply alone on stdout');

  const raw = await run('chat', ['--init', ckpt, '--raw', '--prompt', 'Once upon a time', '--max-new-tokens', '5']);
  assertOk(raw, '--raw');
  const g = await gpu();
  const { generator } = await openGenerator(ckpt, { gpu: g });
  const { reply } = await new ChatSession(generator, replOptions({ raw: true, maxNewTokens: 5 })).say('Once upon a time');
  assert.ok(reply.tokens.length > 0);
  assert.is(raw.stdout, `${reply.text}\n`, 'exactly the continuation (no prompt, no Bot:, no statistics)');
  // --quiet drops the statistics, not the news that the message lost its start (the context is 32 tokens)
  const cut = await run('chat', ['--init', ckpt, '--quiet', '--prompt', 'hello there '.repeat(30), '--max-new-tokens', '2']);
  assertOk(cut, '--quiet with a message longer than the context');
  assert.match(cut.stderr, /^\(message cut by \d+ tokens from its start to fit the context\)$/m);
  assert.not.match(cut.stderr, /prefill/);
});

t('chat.js on a model whose context is below the default --max-new-tokens: the default halves it, said; /set takes the value in use; a --max-new-tokens that does not fit is refused as /set refuses it', async () => {
  // the checkpoint's context is 32 tokens, the default --max-new-tokens 128
  const r = await run('chat', ['--init', ckpt], '/set max_new_tokens\n/set max_new_tokens 16\n/set max_new_tokens 32\n');
  assertOk(r, 'chat with the default --max-new-tokens');
  assert.match(r.stderr, /^note: replies of at most 16 tokens, half this model's 32-token context \(the default 128 does not fit; --max-new-tokens sets it\)$/m);
  assert.is(r.stdout, 'max_new_tokens = 16\nmax_new_tokens = 16\nmax_new_tokens must be < the context length 32, got 32\n');
  assertOneLineError(await run('chat', ['--init', ckpt, '--max-new-tokens', '32', '--prompt', 'hi']),
    [/^error: --max-new-tokens must be < the context length 32, got 32$/], '--max-new-tokens as long as the context');
});

t('chat.js --dtype f16: replies with f16 weights; a bad --dtype is one line', async () => {
  const r = await run('chat', ['--init', ckpt, '--dtype', 'f16', '--prompt', 'Hi there', '--max-new-tokens', '5', '--temperature', '0']);
  assertOk(r, '--dtype f16');
  assert.match(r.stderr, /f16 weights on /, 'the load line says f16');
  assert.ok(r.stdout.trim().length > 0, 'a reply');
  assertOneLineError(await run('chat', ['--init', ckpt, '--dtype', 'bf16', '--prompt', 'hi']), [/--dtype must be one of f32\|f16/], '--dtype bf16');
});

t.run();
