// `node dist/train.js --merge-adapter DIR --out OUT [--init BASE]`: the base model with a LoRA
// adapter merged into its weights (W += alpha/r · Aᵀ·Bᵀ), saved as a whole Hugging Face model
// that needs no adapter support to load (GPT2LMHeadModel.from_pretrained, chat.js --init OUT).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';
import { adapterBaseThere, loadWeights } from './load_model.ts';
import { describeConfig, parameterCount } from '../model/config.ts';
import { Checkpointer, heldCheckpoint } from './checkpointer.ts';
import { checkAdapterDir } from './adapter_dir.ts';
import { deliverPendingSignals, recordedSpeakers, signalExitCode, signalName, STOP_SIGNALS } from './cli.ts';
import { isDefaultSpeakers } from '../data/format.ts';
import { nodeCommand } from './train_run.ts';

/** train.js --merge-adapter: `init` (default: the adapter's base) with `adapter` merged in, saved whole in `out` */
export async function saveMergedModel(adapter: string, init: string | undefined, out: string, say: (s: string) => void): Promise<void> {
  // Ctrl-C/SIGTERM: before the save (loading, or a hub download of the base that takes minutes),
  // stop at once with nothing written; during it (synchronous: the handler runs after), let it
  // finish: a signal's default exit left a half-written .saving/ and .lock in OUT
  let saving = false;
  let stopped: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (saving) return void (stopped = sig);
    console.log(`${signalName(sig)} before the merge was saved: nothing written`);
    process.exit(signalExitCode(sig));
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    await merge(adapter, init, out, say, () => (saving = true));
  } finally {
    await deliverPendingSignals(); // one that came during the save, before the listeners go
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
  if (stopped) say(`(${signalName(stopped)} during the save: it was finished first)`);
}

/** `startSave`: called once the weights are loaded, just before anything is written (a signal after it waits for the save) */
async function merge(adapter: string, init: string | undefined, out: string, say: (s: string) => void, startSave: () => void): Promise<void> {
  const dir = resolve(out);
  checkAdapterDir(adapter, '--merge-adapter');
  if (dir === resolve(adapter)) throw new UserError(`--out ${out} is the adapter's directory: the merged model goes into a directory of its own`);
  const held = heldCheckpoint(dir);
  if (held) throw new UserError(`--out ${out} already holds a checkpoint (${held.what}); pass a new directory for the merged model`);
  // without --init, into the base the adapter names (adapter_config.json)
  const base = init ?? adapterBaseThere(adapter, `or give it to the merge: ${nodeCommand('train', '--merge-adapter', adapter, '--init', 'BASE', '--out', out)}`);
  const w = await loadWeights(base, { adapter });
  // the tags base + adapter is prompted with go into config.json: the merged model has no train_state.json to say them
  const speakers = recordedSpeakers({ init: base, adapter }) ?? undefined;
  await deliverPendingSignals(); // one that came while loading (synchronous reads) stops the merge here
  startSave();
  say(`merged: ${w.source}, ${describeConfig(w.config)}`);
  const ckpt = new Checkpointer(dir);
  ckpt.open();
  try {
    ckpt.checkSpace(parameterCount(w.config) * 4 + 1e6, { once: true }); // one save, into a new directory
    ckpt.saveModel(w.config, w.arrays, speakers);
  } catch (e) {
    // nothing half-made stays: the partial save is gone, and so is the directory this merge made
    const removed = ckpt.close();
    if (!(e instanceof UserError)) throw e;
    const left = removed ? `${out}, which this merge created, is removed again`
      : existsSync(join(dir, '.saving')) ? `its complete copy in ${join(out, '.saving')} is moved into place by the next command that loads ${out}`
      : `nothing of the merge is left in ${out}`;
    throw new UserError(`${e.message}; ${left}`);
  }
  ckpt.close();
  const tags = speakers && !isDefaultSpeakers(speakers) ? ` (its config.json records the speaker tags ${speakers.human}:/${speakers.bot}:, which chat.js, eval.js and serve.js prompt it with)` : '';
  say(`saved ${out}/model.safetensors + config.json (Hugging Face layout); chat with it: ${nodeCommand('chat', '--init', out)}${tags}`);
}
