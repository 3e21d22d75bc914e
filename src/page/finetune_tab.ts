// The Fine-tune tab: conversations pasted, dropped or taken from the example, trained into the
// model this browser runs (finetune.ts: train.js's loop) with a live loss curve, Stop, and a
// download of the result (the page asks before it is left with weights not downloaded, or mid-run).
import { encodeGPT2 } from '../model/weights.ts';
import { UserError } from '../util/errors.ts';
import { lossCurveSvg } from '../util/plot.ts';
import { count } from '../util/words.ts';
import { DivergedError } from '../train/loop.ts';
import { formatDuration } from '../train/run.ts';
import type { BrowserEngine } from './engines.ts';
import { defaultsFor, finetune, FinetuneFailed } from './finetune.ts';
import { exampleConversations, trainTextPlaceholder } from './example.ts';
import { DEFAULT_SPEAKERS, type Speakers } from '../data/format.ts';
import { $ } from './dom.ts';
import { explain, oneLine } from './notices.ts';
import { engines, setState, state } from './state.ts';

const chart = $('loss-chart'), trainStatus = $('train-status');
const trainInputs = { steps: $<HTMLInputElement>('train-steps'), lr: $<HTMLInputElement>('train-lr'), batch: $<HTMLInputElement>('train-batch'), block: $<HTMLInputElement>('train-block') };

/** the tags the in-browser engine prompts with (?human=/?bot=, serve.js's X-Model-Speakers), once it is loaded: a run trains on them */
const speakers = (): Speakers => engines.browser?.session.opts.speakers ?? DEFAULT_SPEAKERS;

/** the form's defaults for `e`'s model (train.js's), where a field is empty, and the conversations' words in its tags */
export function fillTrainingDefaults(e: BrowserEngine): void {
  const sp = e.session.opts.speakers, text = $<HTMLTextAreaElement>('train-text');
  text.placeholder = trainTextPlaceholder(sp);
  // the example, taken before the model's tags were known
  if (text.value === exampleConversations(DEFAULT_SPEAKERS)) text.value = exampleConversations(sp);
  const bot = document.getElementById('train-bot');
  if (bot) bot.textContent = sp.bot;
  const d = defaultsFor(e);
  const fill = (input: HTMLInputElement, v: number | undefined) => {
    if (!input.value && v !== undefined) input.value = String(v);
  };
  fill(trainInputs.steps, d.steps);
  fill(trainInputs.lr, d.lr);
  fill(trainInputs.batch, d.batchSize);
  fill(trainInputs.block, d.blockSize);
  trainInputs.block.max = String(e.config.n_positions);
}

/** the form's fields as the page labels them (index.html: the span in each field's label) */
const label = (input: HTMLInputElement) => input.closest('label')?.querySelector('span')?.textContent ?? input.id;
const FIELD_LABELS = Object.fromEntries(Object.entries(trainInputs).map(([k, i]) => [k, label(i)])) as Record<keyof typeof trainInputs, string>;
/** the CLI's flag names in run.ts's messages, as this form labels them */
const FIELD_NAMES: Record<string, string> = { '--steps': FIELD_LABELS.steps, '--lr': FIELD_LABELS.lr, '--batch-size': FIELD_LABELS.batch, '--block-size': FIELD_LABELS.block, '--data the training text': 'The training text' };
/** run.ts's message in the form's words; its hint at --grad-accum goes: the form has no such field */
const inWords = (msg: string) => msg.replace(/ \(--grad-accum [^)]*\)/, '').replace(/--data the training text|--[a-z-]+/g, (f) => FIELD_NAMES[f] ?? f);

function trainStatusText(text: string, error = false): void {
  trainStatus.textContent = text;
  trainStatus.classList.toggle('error', error);
}

let stopTraining = false;
/** whether the run has begun its first step: before it (the step-0 held-out loss, say) Stop ends it at once */
let stepping = false;
/** the run stops after the step it is on, or at once before its first */
export const stopTrainingRun = () => (stopTraining = true);

async function train(modelBase: string): Promise<void> {
  const e = engines.browser;
  if (!e || engines.chosen !== e || state() !== 'ready') return;
  // a field that holds no number (a number field's value is then '', which would mean its default) is said as typed, not as NaN
  const notNumber = Object.entries(trainInputs).find(([, i]) => i.validity.badInput || (i.value.trim() !== '' && Number.isNaN(Number(i.value))));
  if (notNumber) return trainStatusText(`${FIELD_LABELS[notNumber[0] as keyof typeof trainInputs]}: ${notNumber[1].validity.badInput ? 'not a number' : `“${notNumber[1].value.trim()}” is not a number`}.`, true);
  const num = (input: HTMLInputElement) => (input.value.trim() === '' ? undefined : Number(input.value));
  const req = { text: $<HTMLTextAreaElement>('train-text').value, steps: num(trainInputs.steps), lr: num(trainInputs.lr), batchSize: num(trainInputs.batch), blockSize: num(trainInputs.block) };
  const sp = e.session.opts.speakers;
  if (!req.text.trim()) return trainStatusText(`Paste some conversations first (${sp.human}:/${sp.bot}: lines), or use the example.`, true);
  stopTraining = stepping = false;
  $<HTMLButtonElement>('train-stop').disabled = false;
  $('train-stop').textContent = 'Stop';
  const points: [number, number][] = [], vals: [number, number][] = [];
  const { bot } = sp;
  // the hooks say this run's progress; the last run's curve stays drawn until this one's step-0
  // held-out loss (or its first step) replaces it, and comes back when Stop ends this run before
  // its first step: the chart shows the run whose model the download is
  const lastChart = { html: chart.innerHTML, step: chart.dataset.step, losses: chart.dataset.losses };
  chart.dataset.step = '0';
  chart.dataset.losses = '[]';
  setState('training');
  let intro = '', changed = false;
  const draw = () => (chart.innerHTML = lossCurveSvg(points, vals, `loss on the ${bot}\u2019s replies`, { width: 400, height: 260 }));
  try {
    const { result, params } = await finetune(e, req, {
      onStart: (_, note) => {
        intro = note;
        trainStatusText(`Training on ${note}…`);
      },
      // the baseline the later held-out losses compare with, as train.js's "step 0"
      onStartVal: ({ total, val }) => {
        if (Number.isFinite(val)) vals.push([0, val]);
        draw();
        trainStatusText(`Step 0 of ${total} · held-out ${val.toFixed(4)}`);
      },
      onFirstStep: () => (stepping = true),
      onStep: (r) => {
        // the last run's downloads stay until this run has changed the weights
        if (!changed) $('downloads').hidden = true;
        changed = true;
        if (r.learned && Number.isFinite(r.loss)) points.push([r.step, r.loss]);
        if (r.val !== undefined && Number.isFinite(r.val)) vals.push([r.step, r.val]);
        draw();
        chart.dataset.losses = JSON.stringify(points);
        chart.dataset.step = String(r.step);
        const loss = r.learned ? `loss ${r.loss.toFixed(4)}` : `skipped (no ${bot} reply in this batch)`;
        trainStatusText(`Step ${r.step} of ${r.total} · ${loss}${r.val !== undefined ? ` · held-out ${r.val.toFixed(4)}` : ''} · ${(r.ms / 1000).toFixed(2)} s/step · ${Math.round(r.tokensPerSec)} tok/s · ETA ${formatDuration(r.etaSec)}`);
      },
      stopRequested: () => stopTraining,
    });
    if (!params) {
      // Stop before the first step: the weights, and the last run's download and curve, are as they were
      chart.innerHTML = lastChart.html;
      Object.assign(chart.dataset, { step: lastChart.step, losses: lastChart.losses });
      trainStatusText('Stopped before the first step: nothing trained; the model is as it was.');
      return;
    }
    e.fineTuned = true;
    const first = result.losses[0], last = result.losses[result.losses.length - 1];
    trainStatusText(`${result.interrupted ? `Stopped after step ${result.step}` : `Done: ${count(result.step, 'step')}`} on ${intro}; loss ${first?.toFixed(3)} → ${last?.toFixed(3)}. Chat with it now, or download it.`);
    offerDownload(e, params);
  } catch (err) {
    const failed = err instanceof FinetuneFailed ? err : null;
    const e0 = failed ? failed.error : err;
    const model = !failed ? '' : failed.restored ? 'The model is as it was before this run.' : 'The model may be damaged: reload the page to start again.';
    // train.js's advice names its flags (--warmup has no field here): the page says it with its own
    trainStatusText(e0 instanceof DivergedError
      ? `Step ${e0.step}: ${e0.what}; training stopped. ${model} Try a lower Learning rate (now ${e0.lr}), or check the conversations.`
      : `${e0 instanceof UserError ? inWords(e0.message) : oneLine(explain(e0, modelBase))}${model ? ` ${model}` : ''}`, true);
    // the weights are the last good run's again: so are its downloads; not put back, they are no longer the server's either
    if (failed?.restored && downloadUrls.length) $('downloads').hidden = false;
    if (failed && !failed.restored) e.fineTuned = true;
  } finally {
    if (state() === 'training') setState(engines.chosen ? 'ready' : 'error');
  }
}

let downloadUrls: string[] = [];
/** weights fine-tuned here and not downloaded yet: leaving the page loses them */
let notDownloaded = false;
function offerDownload(e: BrowserEngine, params: Map<string, Float32Array>): void {
  notDownloaded = true;
  for (const u of downloadUrls) URL.revokeObjectURL(u);
  // config.json records the tags the run trained on: chat.js and the page prompt the download with them
  const files = encodeGPT2(e.config, params, e.session.opts.speakers);
  const model = URL.createObjectURL(new Blob(files.safetensors as BlobPart[], { type: 'application/octet-stream' }));
  const config = URL.createObjectURL(new Blob([files.config], { type: 'application/json' }));
  downloadUrls = [model, config];
  $<HTMLAnchorElement>('download-model').href = model;
  $<HTMLAnchorElement>('download-config').href = config;
  $('downloads').hidden = false;
}

/** `modelBase`: where the in-browser engine's model is, for the words about an error */
export function wireFineTune(modelBase: string): void {
  $('train-start').addEventListener('click', () => void train(modelBase));
  $('train-stop').addEventListener('click', () => {
    stopTrainingRun();
    $<HTMLButtonElement>('train-stop').disabled = true;
    $('train-stop').textContent = stepping ? 'Stopping after this step…' : 'Stopping…';
  });
  $('download-model').addEventListener('click', () => (notDownloaded = false));
  window.addEventListener('beforeunload', (ev) => {
    // a run under way is lost too (and with it the weights it is changing)
    if (notDownloaded || state() === 'training') ev.preventDefault(); // the browser asks whether to leave
  });
  $<HTMLTextAreaElement>('train-text').placeholder = trainTextPlaceholder(speakers());
  $('train-example').addEventListener('click', () => ($<HTMLTextAreaElement>('train-text').value = exampleConversations(speakers())));
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const file = ev.dataTransfer?.files[0];
    if (file) void file.text().then((t) => ($<HTMLTextAreaElement>('train-text').value = t));
  });
}
