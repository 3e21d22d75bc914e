import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseChat, readChat } from '../src/data/conversations.ts';
import { loadChatData, loadTokenBin, loadValData } from '../src/node/dataset.ts';
import { getBatch, packConversations, packConversationsAsync, splitConversations, formatStats, type TokenDataset } from '../src/data/windows.ts';
import {
  DEFAULT_SPEAKERS as SP, encodeBotTurn, encodeConversation, encodeExchanges, encodeHumanTurn, encodePersona, type Conversation,
} from '../src/data/format.ts';
import { decode, encode, encodeLong, EOT, LONG_TEXT, StreamDecoder, tokenBytes } from '../src/data/tokenizer.ts';
import { Rng } from '../src/util/rng.ts';
import { Tiktoken } from 'js-tiktoken/lite';
import gpt2 from 'js-tiktoken/ranks/gpt2';
import { loadDataset } from './load_dataset.ts';
import { skip } from './util.ts';

const t = suite('data');
const tmp = mkdtempSync(join(tmpdir(), 'data-test-'));
const conv = (...lines: string[]): Conversation => ({
  turns: lines.map((l) => ({ speaker: l.startsWith('H:') ? 'human' as const : 'bot' as const, text: l.slice(2) })),
});
/** the tokens' bytes end to end (exact, where decode() of part of a character gives U+FFFD) */
const decodeBytes = (ids: number[]) => Uint8Array.from(ids.flatMap((id) => [...tokenBytes(id)]));
const throwsMessage = (f: () => unknown, ...parts: string[]) => {
  try {
    f();
  } catch (e) {
    for (const p of parts) assert.ok((e as Error).message.includes(p), `message ${JSON.stringify((e as Error).message)} lacks ${JSON.stringify(p)}`);
    return;
  }
  assert.unreachable('did not throw');
};

// ---------------------------------------------------------------- tokenizer
t('tokenizer: known GPT-2 ids, round trip, EOT', () => {
  assert.equal(encode('Hello world'), [15496, 995]);
  assert.is(EOT, 50256);
  assert.is(decode([EOT]), '<|endoftext|>');
  for (const s of ['Human: Hi\nBot: Hello!', 'naïve café — 東京 🧠👍🏽', '  spaces\t\ttabs\n\n', '']) assert.is(decode(encode(s)), s);
  // typed by a user it is text, never the special token
  const ids = encode('a <|endoftext|> b');
  assert.not.ok(ids.includes(EOT));
  assert.is(decode(ids), 'a <|endoftext|> b');
});

t('tokenizer: the long-text path gives js-tiktoken\'s ids, on random texts with long runs and on edge cases', () => {
  const tiktoken = new Tiktoken(gpt2);
  const rng = new Rng(7);
  const pick = (xs: string) => [...xs][rng.int([...xs].length)];
  const runs = [
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 'ab', 'e', 'Ze', '0123456789', '01',
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=', '!?.,;:-_()[]{}<>|/\\*&^%$#@~`"\'',
    ' ', '  \n\t\r\u00a0\u3000', '\n', 'éàüñøß', '東京大学中文日本語', '🧠👍🏽🎉', "'s't're've'm'll'd", 'xn--abc',
  ];
  const texts = [
    // equal-rank pairs (merge leftmost first), whitespace runs around long pieces (the regex's \s+(?!\S))
    'a'.repeat(700), 'ab'.repeat(400), ' '.repeat(600), '\n'.repeat(600), `x  \n${'q'.repeat(600)}`, `${'7'.repeat(600)}  `,
    `a <|endoftext|> b ${'<|endoftext|>'.repeat(50)}`, `${'🧠'.repeat(300)} ${'東'.repeat(300)}`,
  ];
  for (let k = 0; k < 150; k++) {
    let s = '';
    const parts = 1 + rng.int(12);
    for (let p = 0; p < parts; p++) {
      const r = rng.next();
      if (r < 0.1) s += ' the <|endoftext|> ';
      else if (r < 0.15) s += 'Human: Hi\nBot: Hello!';
      else {
        const run = runs[rng.int(runs.length)];
        // mostly short runs; one in six long enough to be a piece js-tiktoken merges slowly
        const len = rng.next() < 1 / 6 ? 100 + rng.int(500) : 1 + rng.int(8);
        for (let i = 0; i < len; i++) s += pick(run);
      }
    }
    texts.push(s);
  }
  let long = 0;
  for (const s of texts) {
    const want = tiktoken.encode(s, [], []);
    assert.equal(encodeLong(s), want, JSON.stringify(s.slice(0, 80)));
    assert.equal(encode(s), want);
    assert.is(decode(want), s);
    if (s.length > LONG_TEXT) long++;
  }
  assert.ok(long > 20, `${long} texts take encode's long path`);
});

t('tokenizer: a 50,000-letter run without spaces (a pasted blob) encodes in well under a second, not minutes', () => {
  const rng = new Rng(1);
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const blob = Array.from({ length: 50_000 }, () => letters[rng.int(letters.length)]).join('');
  const text = `Human: decode this ${blob} please`;
  const t0 = performance.now();
  const ids = encode(text);
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `took ${ms.toFixed(0)} ms (js-tiktoken's own merge takes minutes)`);
  assert.is(decode(ids), text);
  assert.equal(ids.slice(0, 4), encode('Human: decode this'));
});

t('StreamDecoder holds back a character split across tokens', () => {
  const ids = encode('Hi 🧠!');
  const brain = encode('🧠');
  assert.ok(brain.length > 1, 'the emoji spans several tokens');
  assert.is(new TextDecoder().decode(decodeBytes(ids)), 'Hi 🧠!');
  const d = new StreamDecoder();
  const outs = ids.map((id) => d.push(id));
  assert.is(outs.join(''), 'Hi 🧠!');
  assert.ok(outs.every((o) => !o.includes('\uFFFD')), 'no replacement characters');
  assert.ok(outs.includes(''), 'partial bytes produce no text');
  // the emoji appears whole, in one push, once its last byte arrived
  assert.ok(outs.some((o) => o.includes('🧠')));
  const d2 = new StreamDecoder();
  assert.is(d2.push(brain[0]), '');
  assert.is(d2.flush(), '\uFFFD', 'flush gives up on the incomplete character');
});

// ---------------------------------------------------------------- format
t('format: 2-exchange conversation token/mask layout', () => {
  const c = conv('H:Hi', 'B:Hello!', 'H:How are you?', 'B:Fine.');
  const e = encodeConversation(c, SP, 'bot');
  // Human: Hi\nBot: | Hello!<EOT> | \n | Human: How are you?\nBot: | Fine.<EOT> | \n
  assert.equal(e.tokens, [20490, 25, 15902, 198, 20630, 25, 18435, 0, EOT, 198, 20490, 25, 1374, 389, 345, 30, 198, 20630, 25, 17867, 13, EOT, 198]);
  assert.equal(e.mask, [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0]);
  assert.is(decode(e.tokens), 'Human: Hi\nBot: Hello!<|endoftext|>\nHuman: How are you?\nBot: Fine.<|endoftext|>\n');
  // the pieces the chat REPL uses give exactly the same tokens
  const h = encodeHumanTurn('  Hi ', SP), b = encodeBotTurn('Hello! ', SP);
  assert.equal([...h.tokens, ...b.tokens], e.tokens.slice(0, 10));
  assert.equal([...h.mask, ...b.mask], e.mask.slice(0, 10));
  // piecewise tokenization equals tokenizing the joined text
  assert.equal(e.tokens.slice(0, 8), encode('Human: Hi\nBot: Hello!'));
  const none = encodeConversation(c, SP, 'none');
  assert.equal(none.tokens, e.tokens);
  assert.ok(none.mask.every((m) => m === 1));
});

t('format: irregular conversations, custom speakers, persona, exchanges', () => {
  const show = (c: Conversation) => decode(encodeConversation(c, SP, 'bot').tokens);
  assert.is(show(conv('H:a', 'H:b', 'B:c')), 'Human: a\nHuman: b\nBot: c<|endoftext|>\n');
  assert.is(show(conv('B:hello', 'H:hi', 'B:yo')), 'Bot: hello<|endoftext|>\nHuman: hi\nBot: yo<|endoftext|>\n');
  assert.is(show(conv('H:x', 'B:y', 'B:z', 'H:end')), 'Human: x\nBot: y<|endoftext|>\nBot: z<|endoftext|>\nHuman: end\n');
  const opening = encodeConversation(conv('B:hello'), SP, 'bot');
  assert.equal(opening.mask, [0, 0, 1, 1, 0], '`Bot:` cue 0, answer + EOT 1, newline 0');
  const sp = { human: 'User', bot: 'Assistant' };
  assert.is(decode(encodeConversation(conv('H:q', 'B:a'), sp, 'bot').tokens), 'User: q\nAssistant: a<|endoftext|>\n');
  const p = encodePersona(' You are Pip. ');
  assert.is(decode(p.tokens), 'You are Pip.\n');
  assert.ok(p.mask.every((m) => m === 0));
  const c = conv('B:hi', 'H:1', 'B:2', 'H:3', 'H:4', 'B:5', 'B:6');
  const groups = encodeExchanges(c, SP, 'bot');
  assert.equal(groups.map((g) => g.length), [1, 2, 1, 3]);
  const flat = groups.flat();
  assert.equal(flat.flatMap((x) => x.tokens), encodeConversation(c, SP, 'bot').tokens);
  assert.equal(flat.flatMap((x) => x.mask), encodeConversation(c, SP, 'bot').mask);
});

// ---------------------------------------------------------------- parseChat
const texts = (cs: Conversation[]) => cs.map((c) => c.turns.map((x) => `${x.speaker[0]}:${x.text}`));

t('parseChat: blank lines and separator lines', () => {
  const txt = 'Human: hi\nBot: hello\n\n\nHuman: 2+2?\nBot: 4.\n---\nHuman: x\nBot: y\n<|endoftext|>\nHuman: p\nBot: q\n';
  assert.equal(texts(parseChat(txt)), [['h:hi', 'b:hello'], ['h:2+2?', 'b:4.'], ['h:x', 'b:y'], ['h:p', 'b:q']]);
});

t('parseChat: CRLF, trailing spaces, no space after colon, continuation lines, headers', () => {
  const txt = 'Here are some chats:\r\nHuman:Hi there  \r\nBot: Hello!\r\nsecond line\r\n  \r\nHuman: a\r\nBot:b\r\n';
  assert.equal(texts(parseChat(txt)), [['h:Hi there', 'b:Hello!\nsecond line'], ['h:a', 'b:b']]);
});

t('parseChat: custom speakers', () => {
  const txt = 'User: hi\nAssistant: hey\nHuman: not a tag here\n\nUser: q\nAssistant: a';
  assert.equal(texts(parseChat(txt, { human: 'User', bot: 'Assistant' })), [['h:hi', 'b:hey\nHuman: not a tag here'], ['h:q', 'b:a']]);
});

t('parseChat: a file without blank lines is chunked (4 exchanges, or a greeting)', () => {
  const lines: string[] = [];
  for (let i = 0; i < 10; i++) lines.push(`Human: q${i}`, `Bot: a${i}`);
  const cs = parseChat(lines.join('\n'));
  assert.equal(cs.map((c) => c.turns.length), [8, 8, 4]);
  assert.is(cs[1].turns[0].text, 'q4');
  const greet = parseChat('Human: hi im jane\nBot: Hello Jane.\nHuman: how are you\nBot: good\nHuman: Hi, I\'m Mark.\nBot: Hey Mark!');
  assert.equal(texts(greet), [['h:hi im jane', 'b:Hello Jane.', 'h:how are you', 'b:good'], ['h:Hi, I\'m Mark.', 'b:Hey Mark!']]);
  // a single block that ends with a blank line is still "no separators"
  assert.is(parseChat(lines.join('\n') + '\n\n').length, 3);
  // the cut is said, once
  assert.equal(readChat(lines.join('\n')).notes, ['no blank lines between conversations: cut into 3 conversations of at most 4 exchanges, or before a greeting ("Hi", "Hello", ...); put a blank line between conversations to choose']);
  assert.equal(readChat(lines.slice(0, 8).join('\n')).notes, [], 'nothing cut, nothing said');
  assert.is(parseChat(lines.join('\n'), SP, { chunk: false }).length, 1);
});

t('parseChat: clear error when there are no tags', () => {
  throwsMessage(() => parseChat('\n  Once upon a time\nthere was a cat.\n'), '"Human:"', '"Bot:"', 'Once upon a time');
  throwsMessage(() => parseChat('hello', { human: 'User', bot: 'AI' }), '"User:"', '"AI:"', 'hello');
  throwsMessage(() => parseChat(''), 'empty');
});

/** readChat's notes that contain `part` (one line per kind: 0 or 1) */
const notesWith = (text: string, part: string, opts = {}) => readChat(text, SP, opts).notes.filter((n) => n.includes(part));

t('readChat notes: untagged lines after a blank line (a paragraph of a Bot answer) are counted, not a file header', () => {
  const txt = 'Human: Tell me a story\nBot: Once upon a time.\n\nThe cat was happy.\n\nThe end.\nHuman: Nice\nBot: Thanks\n';
  assert.equal(texts(parseChat(txt)), [['h:Tell me a story', 'b:Once upon a time.'], ['h:Nice', 'b:Thanks']]);
  const [n] = notesWith(txt, 'untagged');
  assert.match(n, /^2 untagged lines after a blank line ignored: .* \(first: line 4\)$/);
  assert.equal(readChat('A header line\n# and a comment\n\nHuman: hi\nBot: hello\n').notes, [], 'a header before the first turn is fine');
});

t('readChat notes: tags in another case or with a space before the colon are counted, with the exact tags to write', () => {
  const txt = 'Human: Hi\nBot: Hello\nhuman: how are you\nBOT: fine\n\nHuman : a\nBot: b\n';
  const [n] = notesWith(txt, 'not exactly');
  assert.match(n, /^3 lines start with a tag that is not exactly "Human:"\/"Bot:" .* write the tags as "Human:"\/"Bot:" \(first: line 3\)$/);
  assert.not.ok(n.includes('--human'), 'no flag to suggest where the caller has none');
  // a space before the colon: no flag value can match it, so none is suggested
  assert.not.ok(notesWith(txt, 'not exactly', { speakerFlags: true })[0].includes('--human'));
  assert.ok(notesWith('Human: Hi\nbot: Hello\n', 'not exactly', { speakerFlags: true })[0].includes('--human/--bot'));
  // a full-width colon (a Chinese or Japanese input method): said, not merged into the turn before unseen
  const fw = 'Human: 你好\nBot：你好！\nHuman：天气？\nBot: 很好。\n';
  assert.match(notesWith(fw, 'not exactly', { speakerFlags: true })[0], /^2 lines start with a tag that is not exactly "Human:"\/"Bot:" \(another case, a space before the colon, or a full-width "："\), not read as turns: write the tags as "Human:"\/"Bot:" \(first: line 2\)$/);
  throwsMessage(() => parseChat('Human：你好\nBot：你好！\n', SP, { speakerFlags: true }), 'the lines start with "Human：" and "Bot：": write them as "Human:" and "Bot:"');
  // a full-width space before the colon, as such an input method types it
  assert.match(notesWith('Human: 你好\nBot\u3000：你好！\n', 'not exactly', { speakerFlags: true })[0], /^1 line starts with a tag that is not exactly "Human:"\/"Bot:" .*: write the tags as "Human:"\/"Bot:" \(first: line 2\)$/);
  throwsMessage(() => parseChat('Human\u3000：你好\nBot\u3000：你好！\n', SP, { speakerFlags: true }), 'the lines start with "Human\u3000：" and "Bot\u3000：": write them as "Human:" and "Bot:"');
  // another speaker's tag is a name here, not a near miss
  assert.equal(readChat('User: hi\nAssistant: Human: is a word\n', { human: 'User', bot: 'Assistant' }).notes, []);
});

t('readChat notes: one of our tags missing and another label on many lines ("User:" beside "Bot:"): the label is named, with what to write', () => {
  const userBot = 'User: hi\nBot: hello\nUser: how are you\nBot: fine\n';
  // the first "User:" line has no turn before it (ignored), the second goes on the Bot turn's text
  assert.equal(notesWith(userBot, 'no turn is tagged', { speakerFlags: true }), ['2 lines start with "User:", 1 read as text and 1 ignored (with no turn before it in its conversation), and no turn is tagged "Human:": if "User:" tags that speaker, write it as "Human:" (or pass --human User) (first: line 1)']);
  assert.equal(notesWith('Human: hi\nAI: hello\nHuman: bye\nAI: bye\n', 'read as text'), ['2 lines start with "AI:", read as text, and no turn is tagged "Bot:": if "AI:" tags that speaker, write it as "Bot:" (first: line 2)']);
  assert.equal(notesWith('Bot: hello\n\nUser: hi\n\nUser: bye\nBot: fine\n', 'no turn is tagged'), ['2 lines start with "User:", ignored (with no turn before them in their conversation), and no turn is tagged "Human:": if "User:" tags that speaker, write it as "Human:" (first: line 3)']);
  // both speakers there: a label inside an answer is text
  assert.equal(readChat('Human: how?\nBot: Like this.\nNote: it works.\nHuman: and?\nBot: Again.\nNote: twice.\n').notes, []);
  assert.equal(readChat('Human: hi\nNote: one\n').notes, [], 'one label line is not a speaker');
  assert.equal(readChat('Human: links?\nhttps://example.com/a\nhttps://example.com/b\n').notes, [], 'a URL is no label');
  // a tag with an apostrophe: the flag is pasted into a shell, so it is quoted
  assert.ok(notesWith("O'Brien: hi\nBot: hello\nO'Brien: bye\nBot: bye\n", 'no turn is tagged', { speakerFlags: true })[0].includes("(or pass --human 'O'\\''Brien')"));
  throwsMessage(() => parseChat("O'Brien: hi\nAI: hello\n", SP, { speakerFlags: true }), `the lines start with "O'Brien:" and "AI:": pass --human 'O'\\''Brien' --bot AI`);
});

t('readChat notes: a Bot turn after a blank line that followed a Human turn (the answer cut from its question)', () => {
  const txt = 'Human: Hi\n\nBot: Hello\n\nHuman: x\nBot: y\n\nBot: z\n';
  assert.equal(texts(parseChat(txt)), [['h:Hi'], ['b:Hello'], ['h:x', 'b:y'], ['b:z']]);
  const [n] = notesWith(txt, 'from its question');
  assert.match(n, /^1 conversation starts with a turn tagged "Bot:" after one that ended with a turn tagged "Human:": .* \(first: line 3\)$/);
  // other tags: no article that reads wrong before them ('a "Assistant:" turn')
  const [other] = readChat('User: Hi\n\nAssistant: Hello\n', { human: 'User', bot: 'Assistant' }).notes;
  assert.match(other, /^1 conversation starts with a turn tagged "Assistant:" after one that ended with a turn tagged "User:": /);
});

t('readChat: continuation lines keep their indentation (code in an answer)', () => {
  const txt = 'Human: Write code\nBot: Sure:\n    def f(x):\n        return x  \nDone.\n';
  assert.equal(texts(parseChat(txt)), [['h:Write code', 'b:Sure:\n    def f(x):\n        return x\nDone.']]);
});

t('readChat: an answer that starts on the line after its tag keeps its relative indentation', () => {
  const txt = 'Human: Write code\nBot:\n    def f(x):\n\n        return x\n';
  assert.equal(texts(parseChat(txt)), [['h:Write code', 'b:def f(x):']], 'a blank line still ends the turn');
  const code = 'Human: Write code\nBot:\n    def f(x):\n        return x\n';
  assert.equal(texts(parseChat(code)), [['h:Write code', 'b:def f(x):\n    return x']]);
  const tabs = 'Human: Write code\nBot:\n\tif x:\n\t\ty()\n';
  assert.equal(texts(parseChat(tabs)), [['h:Write code', 'b:if x:\n\ty()']]);
});

t('readChat notes: empty turns are left out and counted', () => {
  const txt = 'Human: Hi\nBot:\nHuman: Anyone?\nBot: Yes.\n\nHuman: q\nBot: \n';
  assert.equal(texts(parseChat(txt)), [['h:Hi', 'h:Anyone?', 'b:Yes.'], ['h:q']]);
  assert.match(notesWith(txt, 'empty')[0], /^2 empty turns .* \(first: line 2\)$/);
});

t('readChat: UTF-16 is refused; bytes that are not UTF-8 are counted', () => {
  const chat = 'Human: Hi café\nBot: Olé señor\n';
  for (const bytes of [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(chat, 'utf16le')]), Buffer.from(chat, 'utf16le')]) {
    throwsMessage(() => parseChat(bytes.toString('utf8')), 'the file is UTF-16, not UTF-8: save it as UTF-8');
  }
  const latin1 = Buffer.from(`Human: x\n${chat}`, 'latin1').toString('utf8');
  assert.match(notesWith(latin1, 'UTF-8')[0], /^3 characters could not be read as UTF-8 .* \(first: line 2\)$/);
  assert.equal(readChat(chat).notes, [], 'é in UTF-8 is fine');
});

t('readChat: a byte order mark, and zero-width characters copied from a web page, before a tag do not hide it', () => {
  assert.equal(texts(parseChat('\uFEFFHuman: Hi\r\nBot: Hello\r\n')), [['h:Hi', 'b:Hello']]);
  const zw = parseChat('Human: Hi\nBot: Hello\n\u200BHuman: How are you?\n\u2060\u200DBot: Fine\n \u200B\nHuman: x\nBot: y\n');
  assert.equal(texts(zw), [['h:Hi', 'b:Hello', 'h:How are you?', 'b:Fine'], ['h:x', 'b:y']]);
  // the other invisible format characters (\p{Cf}): a left-to-right mark (copied from a chat app, or typed on Windows), a bidi embedding, a soft hyphen
  const marks = parseChat('Human: Hi\nBot: Hello\n\u200EHuman: How are you?\n\u202A\u00ADBot: Fine\n\u200F\nHuman: x\nBot: y\n');
  assert.equal(texts(marks), [['h:Hi', 'b:Hello', 'h:How are you?', 'b:Fine'], ['h:x', 'b:y']]);
});

t('readChat: a turn holding U+2028 or U+2029 (a line separator inside a message, from a JSON export) is a turn, not text of the turn before', () => {
  assert.equal(texts(parseChat('Human: Hi\u2028there\nBot: Hello\u2029Bye\n')), [['h:Hi\u2028there', 'b:Hello\u2029Bye']]);
  assert.equal(texts(parseChat('Human: Hi\nBot: one\u2028two\nHuman: x\nBot: y\n')), [['h:Hi', 'b:one\u2028two', 'h:x', 'b:y']]);
});

t('readChat: CR-only line ends (old Mac) split lines', () => {
  assert.equal(texts(parseChat('Human: Hi\rBot: Hello\r\rHuman: x\rBot: y\r')), [['h:Hi', 'b:Hello'], ['h:x', 'b:y']]);
  // CR CR LF (CRLF converted again) is one line end, not a blank line between turns
  assert.equal(texts(parseChat('Human: Hi\r\r\nBot: Hello\r\r\n\r\r\nHuman: x\r\r\nBot: y')), [['h:Hi', 'b:Hello'], ['h:x', 'b:y']]);
});

t('parseChat: no tags, but other `Word:` tags: the error names them (and --human/--bot where the caller takes them)', () => {
  const ua = 'User: Hi\nAssistant: Hello\n\nUser: Bye\nAssistant: Bye\n';
  throwsMessage(() => parseChat(ua, SP, { speakerFlags: true }), 'the lines start with "User:" and "Assistant:": pass --human User --bot Assistant');
  throwsMessage(() => parseChat(ua), 'the lines start with "User:" and "Assistant:": write them as "Human:" and "Bot:"');
  throwsMessage(() => parseChat('human: hi\nbot: hello\n', SP, { speakerFlags: true }), 'pass --human human --bot bot');
  throwsMessage(() => parseChat('Q: hi\nA.I.: hello\n', SP, { speakerFlags: true }), 'pass --human Q --bot A.I.');
  // a space before the colon: no flag value can match that, the tags must be rewritten
  throwsMessage(() => parseChat('Human : hi\nBot : hello\n', SP, { speakerFlags: true }), 'the lines start with "Human :" and "Bot :": write them as "Human:" and "Bot:"');
  throwsMessage(() => parseChat('USER : hi\nAI : hello\n', SP, { speakerFlags: true }), 'write them as "Human:" and "Bot:"');
  // a chat export in JSON: converted, not re-tagged (its "role": keys are no tags)
  const json = 'the text is JSON: write its messages as "Human:"/"Bot:" lines, a blank line between conversations (data/README.md has a jq command for OpenAI\'s {"messages": [...]} JSONL)';
  throwsMessage(() => parseChat('{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n{"messages": []}\n', SP, { speakerFlags: true }), json);
  throwsMessage(() => parseChat('[\n  {\n    "role": "user",\n    "content": "Hi"\n  }\n]\n'), json);
  // with a byte order mark (PowerShell's and Notepad's UTF-8), which JSON.parse refuses
  throwsMessage(() => parseChat('\uFEFF{"messages": [{"role": "user", "content": "Hi"}]}\n'), json, '(first line: "{\\"messages\\"');
  throwsMessage(() => parseChat('\uFEFF[\n  {\n    "role": "user",\n    "content": "Hi"\n  }\n]\n'), json);
  // a zero-width character before other tags hides them no more than it hides ours
  throwsMessage(() => parseChat('\u200BUser: hi\n\u200BAI: hello\n', SP, { speakerFlags: true }), 'the lines start with "User:" and "AI:": pass --human User --bot AI');
  let prose = '';
  try {
    parseChat('Once upon a time: a cat.\n', SP, { speakerFlags: true });
  } catch (e) {
    prose = (e as Error).message;
  }
  assert.ok(prose.includes('no "Human:"') && !prose.includes('--human'), `one \`Word:\` is prose, not a pair of tags: ${prose}`);
});

t("data/README.md's jq command: OpenAI JSONL with a content of text parts, or null (a tool call), becomes chat text this parser reads", () => {
  if (spawnSync('jq', ['--version']).error) {
    // recorded as skipped, so the run's summary says this test checked nothing here
    skip('need jq (data/README.md runs it); this machine has none', "data/README.md's jq command");
    return;
  }
  const readme = readFileSync(fileURLToPath(new URL('../data/README.md', import.meta.url)), 'utf8');
  const command = /```sh\n(\s*jq -r [^]*?)```/.exec(readme)![1].replace(/^ {2}/gm, '');
  const dir = mkdtempSync(join(tmp, 'jq-'));
  const lines = [
    { messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Hi there.\n\nHow are you?' }, { role: 'assistant', content: 'Fine.' }] },
    { messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: 'https://x/y.png' } }, { type: 'text', text: 'Be brief.' }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'look', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'a cat' }, { role: 'assistant', content: [{ type: 'text', text: 'A cat.' }] }] },
  ];
  writeFileSync(join(dir, 'chat.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const r = spawnSync('sh', ['-c', command], { cwd: dir, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const parsed = readChat(readFileSync(join(dir, 'chat.txt'), 'utf8'));
  assert.equal(texts(parsed.conversations), [['h:Hi there.\nHow are you?', 'b:Fine.'], ['h:What is this?\nBe brief.', 'b:A cat.']]);
  assert.equal(parsed.notes, []);
});

// ---------------------------------------------------------------- packing
const lenOf = (c: Conversation) => encodeConversation(c, SP, 'bot').tokens.length;
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

t('packConversations: exact windows, whole conversations, EOT padding', () => {
  const a = conv('H:hello there', 'B:hi'), b = conv('H:what is two plus two', 'B:four'), c = conv('H:bye', 'B:bye');
  const la = lenOf(a), lb = lenOf(b), lc = lenOf(c);
  const blockSize = la + lb - 1; // a and b do not fit together; b and c do
  assert.ok(lb + lc <= blockSize && la + lc <= blockSize);
  const W = blockSize;
  const ds = packConversations([a, b, c], SP, blockSize, 'bot');
  // two windows of T tokens, then one EOT (mask 0): the last window's shifted target
  assert.is(ds.tokens.length, 2 * W + 1);
  assert.is(ds.mask.length, 2 * W + 1);
  assert.is(ds.tokens[2 * W], EOT);
  assert.is(ds.mask[2 * W], 0);
  const ea = encodeConversation(a, SP, 'bot'), eb = encodeConversation(b, SP, 'bot'), ec = encodeConversation(c, SP, 'bot');
  assert.equal([...ds.tokens.slice(0, la)], ea.tokens);
  assert.equal([...ds.mask.slice(0, la)], ea.mask);
  assert.ok(ds.tokens.slice(la, W).every((x) => x === EOT), 'window 0 padded with EOT');
  assert.ok(ds.mask.slice(la, W).every((x) => x === 0), 'padding has mask 0');
  assert.equal([...ds.tokens.slice(W, W + lb + lc)], [...eb.tokens, ...ec.tokens]);
  assert.equal([...ds.mask.slice(W, W + lb + lc)], [...eb.mask, ...ec.mask]);
  const covered = [...ea.mask, ...eb.mask, ...ec.mask].reduce((s, m) => s + m, 0);
  assert.equal(ds.stats, {
    conversations: 3, tokens: 2 * W + 1, maskedShare: covered / (2 * W + 1), windows: 2, truncated: 0, padding: 2 * W - la - lb - lc,
  });
  assert.ok(formatStats(ds.stats).includes('3 conversations'));
  const one = packConversations([a], SP, blockSize, 'bot').stats;
  assert.match(formatStats(one), /^1 conversation -> \d+ tokens in 1 window, /);
  const none = packConversations([a, b, c], SP, blockSize, 'none');
  assert.is(none.stats.maskedShare, (la + lb + lc) / (2 * W + 1), "mask 'none': everything but padding");
});

t('packConversations: long conversation split at exchange boundaries, over-long turn cut', () => {
  const c = conv('H:one two three', 'B:four five', 'H:six seven', 'B:eight', 'H:nine ten eleven', 'B:twelve');
  const groups = encodeExchanges(c, SP, 'bot').map((g) => g.flatMap((x) => x.tokens));
  const human1 = encodeHumanTurn('six seven', SP).tokens.length;
  // the second human turn would still fit after the first exchange, but not with its answer
  const blockSize = groups[0].length + human1 - 1, W = blockSize;
  assert.ok(groups.every((g) => g.length <= W) && lenOf(c) > W);
  assert.ok(groups[0].length + groups[1].length > W && groups[1].length + groups[2].length > W);
  const ds = packConversations([c], SP, blockSize, 'bot');
  assert.is(ds.stats.windows, 3);
  groups.forEach((g, i) => {
    assert.equal([...ds.tokens.slice(i * W, i * W + g.length)], g, `window ${i} holds exchange ${i}`);
    assert.ok(ds.tokens.slice(i * W + g.length, (i + 1) * W).every((x) => x === EOT), `then padding`);
  });
  assert.is(ds.stats.truncated, 0);

  const long = conv('H:hi', `B:${words(40)}`, 'H:ok', 'B:fine');
  const cut = packConversations([long], SP, 17, 'bot');
  assert.is(cut.stats.truncated, 1);
  assert.is(cut.tokens.length % 17, 1);
  const human = encodeHumanTurn('hi', SP).tokens, bot = encodeBotTurn(words(40), SP);
  // the exchange does not fit: the human turn, then the bot turn's first 17 tokens, then the rest
  assert.equal([...cut.tokens.slice(0, human.length)], human);
  assert.equal([...cut.tokens.slice(17, 34)], bot.tokens.slice(0, 17));
  assert.equal([...cut.mask.slice(17, 34)], bot.mask.slice(0, 17));
  assert.equal([...cut.tokens.slice(34, 34 + lenOf(conv('H:ok', 'B:fine')))], encodeConversation(conv('H:ok', 'B:fine'), SP, 'bot').tokens);
});

// ---------------------------------------------------------------- batches
function fakeDataset(windows: number, T: number): TokenDataset {
  const n = windows * T + 1;
  const tokens = Uint32Array.from({ length: n }, (_, i) => i);
  const mask = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
  return { tokens, mask, blockSize: T, stats: { conversations: 0, tokens: n, maskedShare: 2 / 3, windows, truncated: 0, padding: 0 } };
}
const rowWindow = (x: Uint32Array, b: number, T: number) => x[b * T] / T;

t('getBatch sequential: step s, row b uses window (s*B+b) mod n; masked targets are -1', () => {
  const T = 5, ds = fakeDataset(5, T);
  const { x, y } = getBatch(ds, 3, 3, 'sequential', 0); // elements 9,10,11 -> windows 4,0,1
  assert.is(x.length, 3 * T);
  assert.is(y.length, 3 * T);
  [4, 0, 1].forEach((w, b) => {
    for (let t2 = 0; t2 < T; t2++) {
      const i = w * T + t2; // window i covers tokens [i*T, i*T+T), targets shifted by one
      assert.is(x[b * T + t2], i);
      assert.is(y[b * T + t2], (i + 1) % 3 === 0 ? -1 : i + 1);
    }
  });
  assert.equal([...getBatch(ds, 0, 2, 'sequential', 0).x.slice(0, 2)], [0, 1]);
});

t('getBatch random: a seeded permutation per epoch, reproducible', () => {
  const T = 3, n = 12, B = 4, ds = fakeDataset(n, T);
  const epochOrder = (seed: number, epoch: number) => {
    const ws: number[] = [];
    for (let s = (epoch * n) / B; s < ((epoch + 1) * n) / B; s++) {
      const { x } = getBatch(ds, s, B, 'random', seed);
      for (let b = 0; b < B; b++) ws.push(rowWindow(x, b, T));
    }
    return ws;
  };
  const e0 = epochOrder(7, 0), e1 = epochOrder(7, 1);
  assert.equal([...e0].sort((a, b) => a - b), [...Array(n).keys()], 'epoch 0 is a permutation');
  assert.equal([...e1].sort((a, b) => a - b), [...Array(n).keys()], 'epoch 1 is a permutation');
  assert.not.equal(e0, e1, 'a new order each epoch');
  assert.not.equal(e0, [...Array(n).keys()], 'not the identity');
  assert.equal(epochOrder(7, 0), e0, 'same seed, same order');
  assert.not.equal(epochOrder(8, 0), e0, 'another seed, another order');
  assert.equal(epochOrder(6, 1), epochOrder(7, 0), 'epoch e of seed s is the order of seed s+e');
  // a batch straddling the epoch boundary: element e = s*B+b, window perm(seed + floor(e/n))[e mod n]
  const { x } = getBatch(ds, 1, 8, 'random', 7); // elements 8..15
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7].map((b) => rowWindow(x, b, T)), [...e0.slice(8), ...e1.slice(0, 4)]);
  assert.throws(() => getBatch(fakeDataset(0, T), 0, 1, 'random', 0), /no windows/);
});

t('splitConversations: every k-th, deterministic, at least one', () => {
  const cs = Array.from({ length: 25 }, (_, i) => conv(`H:${i}`, 'B:x'));
  const id = (c: Conversation) => Number(c.turns[0].text);
  const s = splitConversations(cs, 0.1);
  assert.equal(s.val.map(id), [9, 19]);
  assert.is(s.train.length, 23);
  assert.equal(splitConversations(cs, 0.1).val.map(id), [9, 19]);
  assert.equal(splitConversations(cs, 0.2).val.map(id), [4, 9, 14, 19, 24]);
  assert.equal(splitConversations(cs.slice(0, 2), 0.1).val.map(id), [1]);
  assert.equal(splitConversations(cs.slice(0, 1), 0.1).val.length, 0);
  assert.equal(splitConversations(cs, 0).val.length, 0);
  assert.throws(() => splitConversations(cs, 1));
});

t('packConversations: a long question is cut from its start, so its Bot: cue and end stay in front of the answer', () => {
  const W = 64, question = words(100), hum = encodeHumanTurn(question, SP);
  const short = encodeBotTurn('Short answer.', SP);
  // the answer fits beside the question's last W - answer tokens: one window, cue and all
  const a = packConversations([conv(`H:${question}`, 'B:Short answer.')], SP, W, 'bot');
  assert.is(a.stats.truncated, 1);
  const room = W - short.tokens.length;
  assert.equal([...a.tokens.slice(0, W)], [...hum.tokens.slice(-room), ...short.tokens]);
  assert.ok(decode([...a.tokens.slice(0, W)]).includes(`${words(100).split(' ').at(-1)}\nBot: Short answer.`));
  // an answer too long for a quarter window of question beside it: the question's last W tokens (the cue) fill a window, the answer starts the next
  const long = encodeBotTurn(words(28), SP);
  assert.ok(long.tokens.length > (3 * W) / 4 && long.tokens.length <= W);
  const b = packConversations([conv(`H:${question}`, `B:${words(28)}`)], SP, W, 'bot');
  assert.is(b.stats.truncated, 1);
  assert.equal([...b.tokens.slice(0, W)], hum.tokens.slice(-W));
  assert.equal([...b.tokens.slice(W, W + long.tokens.length)], long.tokens);
});

t('packing past the first 2^16 tokens, and packing that yields to the event loop: the same stream, window by window', async () => {
  // each conversation fits one 64-token window with room to spare, so window i is conversation i and EOT padding
  const convs: Conversation[] = Array.from({ length: 2100 }, (_, i) => ({ turns: [
    { speaker: 'human', text: `Tell me about thing number ${i}, please, and all you know of it.` }, { speaker: 'bot', text: `Thing ${i} is a fine thing, and ${i + 1} comes right after it, as everyone knows.` },
  ] }));
  const ds = packConversations(convs, SP, 64, 'bot');
  assert.ok(ds.tokens.length > 2 ** 17, `${ds.tokens.length} tokens: the buffers grew twice`);
  assert.is(ds.stats.windows, convs.length);
  convs.forEach((c, i) => {
    const e = encodeConversation(c, SP, 'bot'), at = i * 64;
    assert.ok(e.tokens.length > 32 && e.tokens.length < 64, `${e.tokens.length} tokens: one conversation a window`);
    assert.equal([...ds.tokens.subarray(at, at + 64)], [...e.tokens, ...new Array(64 - e.tokens.length).fill(EOT)], `window ${i}`);
    assert.equal([...ds.mask.subarray(at, at + 64)], [...e.mask, ...new Array(64 - e.tokens.length).fill(0)], `mask of window ${i}`);
  });
  assert.equal([ds.tokens.length, ds.tokens.at(-1)], [convs.length * 64 + 1, EOT]);
  // the async packer gives the same stream, and a timer gets to run while it works (so does a signal handler)
  let ticks = 0, progress = 0;
  const timer = setInterval(() => ticks++, 1);
  const again = await packConversationsAsync(convs, SP, 64, 'bot', (n) => (progress = n));
  clearInterval(timer);
  assert.equal([...again.tokens], [...ds.tokens]);
  assert.equal([...again.mask], [...ds.mask]);
  assert.equal(again.stats, ds.stats);
  assert.ok(ticks > 0 && progress > 0 && progress <= convs.length, `ticks ${ticks}, progress ${progress}`);
});

// ---------------------------------------------------------------- files
t('loadTokenBin: raw uint16 and llm.c header, consecutive windows', async () => {
  const ids = Uint16Array.from({ length: 25 }, (_, i) => i * 2000 + 1);
  const raw = join(tmp, 'raw.bin');
  writeFileSync(raw, Buffer.from(ids.buffer));
  const ds = loadTokenBin(raw, 9);
  assert.is(ds.stats.windows, 2);
  assert.equal([...ds.tokens], [...ids.slice(0, 19)]);
  assert.ok(ds.mask.every((m) => m === 1));
  const { x, y } = getBatch(ds, 1, 1, 'sequential', 0);
  assert.equal([...x], [...ids.slice(9, 18)]);
  assert.equal([...y], [...ids.slice(10, 19)]);
  const header = new Int32Array(256);
  header.set([20240520, 1, 25]);
  const llmc = join(tmp, 'llmc.bin');
  writeFileSync(llmc, Buffer.concat([Buffer.from(header.buffer), Buffer.from(ids.buffer)]));
  assert.equal([...loadTokenBin(llmc, 9).tokens], [...ids.slice(0, 19)]);
  throwsMessage(() => loadTokenBin(raw, 30), 'fewer than one window');
  const { train, val } = await loadChatData(raw, { blockSize: 4, speakers: SP, mask: 'bot' }); // 6 windows: 5 train, last 1 val
  assert.equal([...val.tokens], [...ids.slice(20, 25)]);
  assert.equal([...train.tokens], [...ids.slice(0, 21)]);
  assert.is(train.stats.windows, 5);
  assert.is(val.stats.windows, 1);
  // the extension in any case: RAW.BIN from a case-insensitive file system is a token file too, not chat text
  const upper = join(tmp, 'RAW.BIN');
  writeFileSync(upper, Buffer.from(ids.buffer));
  assert.equal([...(await loadChatData(upper, { blockSize: 4, speakers: SP, mask: 'bot' })).train.tokens], [...train.tokens]);
  assert.equal([...(await loadValData(upper, { blockSize: 4, speakers: SP, mask: 'bot' })).data.tokens], [...ids.slice(0, 25)]);
});

t('loadDataset / loadChatData: text files and clear errors', async () => {
  const opts = { blockSize: 64, speakers: SP, mask: 'bot' as const };
  const missing = join(tmp, 'nope.txt');
  throwsMessage(() => loadDataset(missing, opts), 'not found', missing, 'Human:');
  throwsMessage(() => loadDataset(join(tmp, 'nope.bin'), opts), 'not found', 'nope.bin');
  const blank = join(tmp, 'blank.txt');
  writeFileSync(blank, '');
  throwsMessage(() => loadDataset(blank, opts), 'file is empty', blank);
  writeFileSync(blank, '\n  \n');
  throwsMessage(() => loadDataset(blank, opts), 'file is empty', blank);
  const zero = join(tmp, 'zero.bin');
  writeFileSync(zero, '');
  throwsMessage(() => loadDataset(zero, opts), 'file is empty', zero);
  // past V8's longest string: refused before reading (a sparse file: no disk used)
  const huge = join(tmp, 'huge.txt');
  writeFileSync(huge, 'Human: hi\nBot: hello\n');
  truncateSync(huge, 513 * 2 ** 20);
  throwsMessage(() => loadDataset(huge, opts), huge, 'is 513 MiB', 'at most 512 MiB', 'split it');
  rmSync(huge);
  const prose = join(tmp, 'prose.txt');
  writeFileSync(prose, 'It was a dark and stormy night.\n');
  throwsMessage(() => loadDataset(prose, opts), prose, '"Human:"', 'dark and stormy');
  const chat = join(tmp, 'chat.txt');
  writeFileSync(chat, Array.from({ length: 20 }, (_, i) => `Human: question ${i}\nBot: answer ${i}`).join('\n\n'));
  const ds = loadDataset(chat, opts);
  assert.is(ds.stats.conversations, 20);
  assert.is(ds.tokens.length % 64, 1);
  const { train, val, stats } = await loadChatData(chat, opts);
  assert.is(val.stats.conversations, 2);
  assert.is(train.stats.conversations, 18);
  assert.is(stats.conversations, 20);
  assert.ok(decode([...val.tokens]).includes('question 9\n'));
});

t('loadChatData: eval.js\'s held-out file (marked Bot turns) as --data or --val-data is said in a note; unmarked data gets none', async () => {
  const opts = { blockSize: 256, speakers: SP, mask: 'bot' as const };
  const evalTxt = fileURLToPath(new URL('../data/eval.txt', import.meta.url));
  const said = (notes: string[]) => notes.filter((n) => n.includes('eval.js mark'));
  const note = '88 Bot turns end with an eval.js mark ([recall: ...] or [unknown]), read as part of the reply: a marked file is eval.js\'s held-out set (data/eval.txt), not training or validation data';
  assert.equal(said((await loadChatData(evalTxt, opts)).notes), [note], 'as --data: 65 recall and 23 unknown marks');
  const plain = join(tmp, 'plain.txt');
  writeFileSync(plain, Array.from({ length: 10 }, (_, i) => `Human: question ${i}\nBot: answer ${i} [not a mark]`).join('\n\n'));
  assert.equal(said((await loadChatData(plain, opts)).notes), [], 'no marks, no note');
  assert.equal(said((await loadChatData(plain, { ...opts, valData: evalTxt })).notes), [`--val-data ${evalTxt}: ${note}`], 'as --val-data: named');
  const one = join(tmp, 'one.txt');
  writeFileSync(one, 'Human: I am Zorbat.\nAssistant: Hi!\nHuman: Who am I?\nAssistant: Zorbat. [recall: Zorbat]\n');
  assert.equal(said((await loadChatData(one, { ...opts, speakers: { human: 'Human', bot: 'Assistant' } })).notes)[0]?.split(' (')[0], '1 Assistant turn ends with an eval.js mark');
});

// ---------------------------------------------------------------- the default dataset
t('data/chat.txt and data/eval.txt parse as they always have, with no notes', () => {
  for (const [file, n, hash] of [['chat.txt', 12000, 'f813a173c9bd5bc4'], ['eval.txt', 40, 'fa8182d75b7e96d2']] as const) {
    const r = readChat(readFileSync(fileURLToPath(new URL(`../data/${file}`, import.meta.url)), 'utf8'));
    assert.equal(r.notes, [], file);
    assert.is(r.conversations.length, n, file);
    // sha256 of the parsed conversations: a parser change that alters the shipped data fails here
    assert.is(createHash('sha256').update(JSON.stringify(r.conversations)).digest('hex').slice(0, 16), hash, file);
  }
});

t('data/chat.txt: >= 1000 conversations of 2-6 exchanges, many with recall questions', () => {
  const text = readFileSync(fileURLToPath(new URL('../data/chat.txt', import.meta.url)), 'utf8');
  const cs = parseChat(text);
  assert.ok(cs.length >= 1000, `${cs.length} conversations`);
  const STOP = new Set(['you', 'your', 'the', 'and', 'are', 'have', 'said', 'told', 'that', 'was', 'like', 'love', 'what', 'how', 'is', 'of', 'course']);
  const words = (s: string) => (s.toLowerCase().match(/[a-z]{3,}|\d+/g) ?? []).filter((w) => !STOP.has(w));
  let recall = 0;
  for (const c of cs) {
    const exchanges = c.turns.filter((x) => x.speaker === 'human').length;
    assert.ok(exchanges >= 2 && exchanges <= 6, `${exchanges} exchanges`);
    // a question about the user ("my", "I") whose answer uses something said in an EARLIER human turn
    const hit = c.turns.some((turn, i) => {
      const next = c.turns[i + 1];
      if (turn.speaker !== 'human' || next?.speaker !== 'bot' || !/\b(my|i)\b/i.test(turn.text)) return false;
      const earlier = new Set(c.turns.slice(0, i).filter((x) => x.speaker === 'human').flatMap((x) => words(x.text)));
      const asked = new Set(words(turn.text));
      return words(next.text).some((w) => earlier.has(w) && !asked.has(w));
    });
    if (hit) recall++;
  }
  assert.ok(recall / cs.length >= 0.3, `only ${recall} of ${cs.length} conversations have a recall question`);
  const ds = packConversations(cs, SP, 256, 'bot');
  assert.is(ds.stats.truncated, 0);
  assert.ok(ds.stats.maskedShare > 0.2 && ds.stats.maskedShare < 0.6, formatStats(ds.stats));
});

t.after(() => rmSync(tmp, { recursive: true, force: true }));
t.run();
