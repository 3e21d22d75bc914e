// The terminal front end of a ChatSession (src/chat/session.ts): a streamed answer with its
// statistics line (src/chat/stats_line.ts; shared with --prompt mode), and the line-based REPL with its /commands,
// for a terminal or a pipe.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Generator } from '../model/generator.ts';
import { applySetting, ChatSession, cutNotes, listSettings, SETTING_NAMES, showSetting, type Answer, type ChatOptions } from '../chat/session.ts';
import { emptyNote, statsLine } from '../chat/stats_line.ts';
import { signalExitCode, STOP_SIGNALS } from './cli.ts';

export interface AnswerIo {
  output: NodeJS.WritableStream;
  /** where the statistics line goes (default: output) */
  log?: NodeJS.WritableStream;
  /** print `{bot}: ` before the reply */
  tag: boolean;
}

/** Answer `message` on `io.output`, streamed, then the statistics line unless quiet (a cut message or persona, or an empty reply, is said anyway). */
export async function answer(session: ChatSession, message: string, io: AnswerIo, aborted?: () => boolean): Promise<Answer> {
  const { output } = io;
  const log = io.log ?? output;
  const raw = session.opts.raw;
  if (io.tag && !raw) output.write(`${session.opts.speakers.bot}: `);
  let started = raw;
  const a = await session.say(message, (s) => {
    if (!started) {
      s = s.replace(/^\s+/, ''); // the reply's leading space belongs to the format, not the text
      if (!s) return;
      started = true;
    }
    output.write(s);
  }, aborted);
  output.write('\n');
  if (!session.opts.quiet) {
    const line = statsLine(a, session.opts.maxNewTokens);
    log.write((log as { isTTY?: boolean }).isTTY ? `\x1b[2m${line}\x1b[22m\n` : `${line}\n`);
  } else {
    const notes = `${cutNotes(a.prompt)}${emptyNote(a.reply)}`.trim();
    if (notes) log.write(`${notes}\n`); // lost text, and a reply that is not there, are said even when quiet
  }
  return a;
}

// ---- the REPL ----
const HELP = `Commands:
  /reset               start a new conversation (history and cache cleared)
  /persona TEXT        text placed before the conversation; /persona shows it, /persona - clears it
  /set NAME VALUE      change ${SETTING_NAMES.join(', ')}; /set lists them, /set NAME shows one
  /history             show the conversation so far
  /help                this list
  /quit                leave (also Ctrl-D); Ctrl-C interrupts a reply
  //TEXT               sends /TEXT as a message (one starting with '/', as a path does)
A command is one line: in a pasted block that starts with one, the lines after it are the next message.`;

// the terminal wraps a paste in ESC[200~ ... ESC[201~ while this is on (readline names them
// paste-start and paste-end), so a pasted block can be told from lines typed one by one
const BRACKETED_PASTE_ON = '\x1b[?2004h', BRACKETED_PASTE_OFF = '\x1b[?2004l';

export interface ReplIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** interactive terminal: prompt, line editing, Ctrl-C handling */
  isTTY: boolean;
  /** statistics lines (default: output) */
  log?: NodeJS.WritableStream;
  /**
   * with isTTY: the output is that terminal, so bracketed paste can be switched (default true);
   * false where stdout is a pipe or file (`chat.js | head -1`): the codes would go there, and
   * the one turning it off could be lost with the pipe
   */
  pasteMode?: boolean;
}

/**
 * readline's view of the terminal: what it writes (the echo of keys, its redraws) is dropped
 * while `muted`, when a reply is generated. Keys typed then were echoed into the middle of the
 * streamed reply; readline still reads them, and the next prompt shows them (a line ended with
 * Enter after the prompt it answers, one without it as the line being edited).
 */
class EchoGate extends Writable {
  muted = false;
  constructor(private readonly terminal: NodeJS.WritableStream) {
    super();
    terminal.on('resize', () => this.emit('resize')); // readline redraws for the new width
  }
  /** readline wraps the line it draws at the terminal's width */
  get columns(): number | undefined {
    return (this.terminal as { columns?: number }).columns;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    if (!this.muted) this.terminal.write(chunk);
    done(); // at once: readline's writes and the REPL's own stay in order
  }
}

/**
 * A queue over readline's lines so a pipe's lines wait while a reply is generated. In a
 * terminal with bracketed paste on, a pasted block is one message: its lines joined with '\n'
 * (as training joins a turn's untagged lines), sent when the paste ends with a newline, else
 * with the line that Enter completes.
 */
function lineReader(rl: ReturnType<typeof createInterface>, input: NodeJS.ReadableStream) {
  const lines: string[] = [];
  const waiting: ((l: string | null) => void)[] = [];
  let closed = false;
  let pasting = false, pasted: string[] = [], pasteEndsLine = false;
  const deliver = (l: string) => (waiting.length ? waiting.shift()!(l) : lines.push(l));
  // readline's own keypress listener runs first: its 'line' for a pasted newline comes before
  // this one sees the key
  input.on('keypress', (_s: string | undefined, key?: { name?: string }) => {
    if (key?.name === 'paste-start') [pasting, pasteEndsLine] = [true, false];
    else if (key?.name === 'paste-end') {
      pasting = false;
      if (pasteEndsLine && pasted.length) deliver(pasted.splice(0).join('\n'));
    } else if (pasting) pasteEndsLine = key?.name === 'return' || key?.name === 'enter';
  });
  rl.on('line', (l) => {
    if (pasting) pasted.push(l);
    else deliver(pasted.length ? [...pasted.splice(0), l].join('\n') : l);
  });
  rl.on('close', () => {
    closed = true;
    if (pasted.length) deliver(pasted.splice(0).join('\n'));
    for (const w of waiting.splice(0)) w(null);
  });
  return {
    next: (): Promise<string | null> => (lines.length ? Promise.resolve(lines.shift()!) : closed ? Promise.resolve(null) : new Promise((r) => waiting.push(r))),
    /** a line entered while the last reply was generated waits (typed ahead, or a paste's) */
    ready: () => lines.length > 0,
    /** Ctrl-C at the prompt: a paste's lines still waiting for Enter go with the line typed */
    dropPaste: () => void (pasted = []),
  };
}

/**
 * Chat over `io` until /quit or the end of input. In a pipe every line is a message or a
 * command and the only decoration is `{bot}: ` before each reply.
 */
export async function runRepl(gen: Generator, opts: ChatOptions, io: ReplIo): Promise<void> {
  const session = new ChatSession(gen, opts);
  const { output, isTTY } = io;
  const paste = isTTY && (io.pasteMode ?? true);
  const setPaste = (on: boolean) => void (paste && output.write(on ? BRACKETED_PASTE_ON : BRACKETED_PASTE_OFF));
  const say = (s: string) => output.write(`${s}\n`);
  const echo = new EchoGate(output);
  const rl = createInterface({ input: io.input, output: isTTY ? echo : undefined, terminal: isTTY, crlfDelay: Infinity });
  rl.setPrompt(opts.raw ? '> ' : `${opts.speakers.human}: `);
  const reader = lineReader(rl, io.input);
  let generating = false;
  let abort = false;
  rl.on('SIGINT', () => {
    if (generating) abort = true;
    else {
      // drop what was typed, as a shell does: kept, it was sent with what came next while the
      // redrawn prompt showed only the new text
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      reader.dropPaste();
      output.write('\n(Ctrl-C interrupts a reply; /quit or Ctrl-D leaves)\n');
      rl.prompt();
    }
  });
  // `kill` (SIGTERM), a closed window (SIGHUP): the process ends here, past the finally below, so
  // bracketed paste goes off first (left on, the shell's pasted text came wrapped in ^[[200~)
  const onSignal = (sig: NodeJS.Signals) => {
    setPaste(false);
    process.exit(signalExitCode(sig));
  };
  // Ctrl-Z, then fg: readline pauses its input on SIGCONT and leaves the resuming to a listener;
  // with none, nothing kept Node running and chat.js ended without a word. The shell turned
  // bracketed paste off while it had the terminal: on again.
  rl.on('SIGCONT', () => {
    setPaste(true);
    rl.resume();
  });
  if (isTTY) {
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    setPaste(true);
    say(opts.raw ? 'Raw mode: each line is continued as plain text. /help for commands.' : 'Type a message; /help for commands, Ctrl-D to leave.');
  }

  const command = (line: string): 'quit' | void => {
    const [typed] = line.split(/\s+/, 1);
    const cmd = typed.toLowerCase(); // /QUIT with Caps Lock on still leaves
    const rest = line.slice(typed.length).trim();
    switch (cmd) {
      case '/quit':
      case '/exit':
        return 'quit';
      case '/help':
        return void say(HELP);
      case '/reset':
        session.reset();
        return void say('(new conversation)');
      case '/persona':
        if (opts.raw) return void say('(raw mode has no persona: each line is continued as given, so put what goes before it at the start of the line)');
        if (!rest) return void say(session.persona ? `persona: ${session.persona}` : '(no persona)');
        session.persona = rest === '-' ? '' : rest;
        return void say(session.persona ? '(persona set)' : '(persona cleared)');
      case '/history':
        if (session.persona) say(`(persona) ${session.persona}`);
        if (!session.history.length) return void say('(no history)');
        session.history.forEach((t, i) => {
          if (i === session.forgotten && i > 0) say('(the turns above no longer fit the context)');
          say(`${t.speaker === 'human' ? opts.speakers.human : opts.speakers.bot}: ${t.text}`);
        });
        return;
      case '/set': {
        if (!rest) return void say(listSettings(opts));
        const [typedName, value, ...extra] = rest.split(/\s+/);
        const name = typedName.toLowerCase();
        if (value === undefined) return void say(showSetting(opts, name)); // `/set top_k` shows it
        // `/set temperature 0.7 top_k 40` set the temperature alone and said nothing of the rest
        if (extra.length) return void say(`/set takes one name and one value, got '${rest}' (nothing changed)`);
        const err = applySetting(opts, name, value, gen.contextLength);
        if (err) return void say(err);
        const key = name.replace(/-/g, '_');
        if (key === 'seed') session.reseed(opts.seed);
        return void say(`${key} = ${value}`);
      }
      default:
        return void say(`unknown command ${typed}; /help lists the commands`);
    }
  };

  // the lines of a pasted block after its first, a command: the next message
  let afterCommand = null as string | null;
  try {
    for (;;) {
      // a line entered while the last reply was generated (not echoed then: EchoGate) is shown
      // after the prompt it answers: the prompt alone read as an empty message
      const typedAhead = afterCommand !== null || (isTTY && reader.ready());
      // the cursor stays after what was typed during the reply (a paste without its last newline):
      // prompt() put it at the line's start, and the next keys overwrote the text shown
      if (isTTY && !typedAhead) rl.prompt(true);
      const line: string | null = afterCommand ?? (await reader.next());
      afterCommand = null;
      if (line === null) {
        if (isTTY) output.write('\n'); // Ctrl-D: leave the shell prompt on a fresh line
        break;
      }
      if (typedAhead) output.write(`${rl.getPrompt()}${line}\n`);
      let text = line.trim();
      if (!text) continue;
      if (text.startsWith('//')) text = text.slice(1); // a message that starts with '/': '//usr/bin ...'
      else if (text.startsWith('/')) {
        // a command is one line: a paste that starts with one ran it with the other lines as its
        // arguments (/reset dropped them unsaid, /set refused them), or made them all the persona
        const [first, ...rest] = text.split('\n');
        if (rest.join('').trim()) afterCommand = rest.join('\n');
        if (command(first.trim()) === 'quit') break;
        continue;
      }
      generating = echo.muted = true;
      abort = false;
      try {
        await answer(session, text, { output, log: io.log, tag: true }, () => abort);
      } finally {
        generating = echo.muted = false;
        // readline counts the rows of the line it drew, to go back up to the prompt when it draws
        // the line again: none of it was drawn (a line typed past the terminal's width during the
        // reply sent the next prompt up into the reply, clearing its last rows)
        (rl as unknown as { prevRows: number }).prevRows = 0;
      }
    }
  } finally {
    for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
    setPaste(false);
    rl.close();
  }
}
