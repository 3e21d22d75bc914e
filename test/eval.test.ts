// The eval: marks in held-out files, the scores on hand-written transcripts, the shipped
// held-out set against the training set, the replay of gold histories through ChatSession,
// and dist/eval.js on a tiny random checkpoint (same JSON twice, --help, bad input).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readMarkedChat, type MarkedConversation } from '../src/eval/heldout.ts';
import { generateReplies } from '../src/eval/run.ts';
import { recallValueDataset, trainingTokens } from '../src/eval/recall_loss.ts';
import { admitsNotKnowing, distinct2, hasRepeated3gram, score, trainingReplies, wilson95, words, type ScoredReply } from '../src/eval/score.ts';
import { containsValue, matchesNothing, valueSpan } from '../src/eval/match.ts';
import { parseChat } from '../src/data/conversations.ts';
import { DEFAULT_SPEAKERS as SP, type Speakers } from '../src/data/format.ts';
import { decode, encode, EOT } from '../src/data/tokenizer.ts';
import { FakeGenerator, replyScript } from './fake_generator.ts';
import { defaultChatOptions } from '../src/chat/session.ts';
import { GPT2 } from '../src/model/gpt2.ts';
import { GPT2_124M } from '../src/model/config.ts';
import { saveGPT2Weights } from '../src/node/weights.ts';
import { saveAdapter } from '../src/node/adapter_dir.ts';
import { checkLora, initLoraArrays } from '../src/model/lora.ts';
import { SMALL_CHAT } from './fixtures.ts';
import { start, waitForOutput } from './child.ts';

const t = suite('eval');
const parseMarkedChat = (text: string, sp: Speakers) => readMarkedChat(text, sp).conversations;
// bundled into dist/test*.js, so the repository root is one level up
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'gpt2-eval-'));

// ---------------------------------------------------------------- marks
t('marks: [recall: V | W] and [unknown] come off the end of Bot lines; misplaced ones are one-line errors', () => {
  const [c] = parseMarkedChat('Human: I am Zorbat.\nBot: Hi Zorbat.\nHuman: Who am I?\nBot: You are Zorbat. [recall: Zorbat | zorb]\nHuman: How old am I?\nBot: You haven\'t said.  [Unknown] \n', SP);
  assert.equal(c.turns.map((x) => x.text), ['I am Zorbat.', 'Hi Zorbat.', 'Who am I?', 'You are Zorbat.', 'How old am I?', 'You haven\'t said.']);
  assert.equal(c.marks, [null, null, null, { kind: 'recall', values: ['Zorbat', 'zorb'] }, null, { kind: 'unknown' }]);
  assert.throws(() => parseMarkedChat('Human: Who am I? [recall: X]\nBot: X.', SP), /belongs at the end of a reply: the Bot line that answers the Human line before it$/);
  // other tags: no article that reads wrong before them ('a Assistant line')
  assert.throws(() => parseMarkedChat('User: Who am I? [recall: X]\nAssistant: X.', { human: 'User', bot: 'Assistant' }), /belongs at the end of a reply: the Assistant line that answers the User line before it$/);
  assert.throws(() => parseMarkedChat('Human: Who am I?\nBot: X. [recall: ]', SP), /needs the value/);
  assert.throws(() => parseMarkedChat('Bot: Hello. [unknown]\nHuman: hi', SP), /answers the Human line/);
  // what was meant as a mark but would be neither scored nor removed: a typo, no colon, unclosed, mid-line, two marks
  for (const bad of ['Hi Zorbat. [unkown]', 'Hi Zorbat. [recall Zorbat]', 'Hi Zorbat. [recall: Zorbat', 'Hi Zorbat. [recall: Zorbat] and more', 'Hi Zorbat. [recall: Zorbat] [unknown]',
    'Hi Zorbat. [reacll: Zorbat]', 'Hi Zorbat. (recall: Zorbat)', 'Hi Zorbat. [[recall: Zorbat]', 'Hi Zorbat. [unknown.]', 'Hi Zorbat. (unknown)', 'Hi Zorbat. [recall: Zorbat]\nAnything else?',
    // full-width brackets, as a Chinese or Japanese input method types them: read as reply text, the question unscored
    '你叫Zorbat。［recall: Zorbat］', '我不知道。［unknown］', '你叫Zorbat。【recall: Zorbat】', '我不知道。（unknown）']) {
    assert.throws(() => parseMarkedChat(`Human: I am Zorbat.\nBot: ${bad}`, SP), /is not a mark that can be scored: marks are \[recall: VALUE\] or \[unknown\], one at the end of a turn tagged "Bot:", after its last line/, bad);
  }
  // in other tags the rule names them
  assert.throws(() => parseMarkedChat('User: I am Zorbat.\nAI: Hi Zorbat. [unkown]', { human: 'User', bot: 'AI' }), /one at the end of a turn tagged "AI:", after its last line/);
  // in a turn of several lines the error names the stray mark's own line, and stays one line
  assert.throws(() => readMarkedChat('Human: I am Zorbat.\nBot: Hi [unkown] there\nand more\nand more.', SP),
    (e: Error) => /^conversation 1, turn 2 \(line 2: "Hi \[unkown\] there and more and more\."\): "\[unkown\] there and more and/.test(e.message) && !e.message.includes('\n'));
  // text that only looks like one stays text
  assert.is(parseMarkedChat('Human: Play something.\nBot: [Unknown artist] is great, recall the [recall button]?', SP)[0].turns[1].text, '[Unknown artist] is great, recall the [recall button]?');
  assert.is(parseMarkedChat('Human: Sources?\nBot: See [1] and [2] (at: the end) [b]', SP)[0].turns[1].text, 'See [1] and [2] (at: the end) [b]');
  // a recall whose own reference reply lacks the value (as written, as whole words): nothing for the recall loss to score
  for (const [reply, value] of [['You are someone.', 'Qwerty'], ['You live in St Louis.', 'St. Louis'], ['Tomas? No.', 'Tom']]) {
    assert.throws(() => parseMarkedChat(`Human: Who am I?\nBot: ${reply} [recall: ${value}]`, SP), /the reply does not say .* as written in the mark/, reply);
  }
});

t('a held-out file without blank lines is one conversation: the fact and its recall question stay together', () => {
  const exchanges = Array.from({ length: 5 }, (_, i) => `Human: Fact ${i}.\nBot: Noted.`);
  const text = ['Human: My code is 4417.\nBot: Got it.', ...exchanges, 'Human: What is my code?\nBot: It is 4417. [recall: 4417]'].join('\n');
  const convs = parseMarkedChat(text, SP);
  assert.is(convs.length, 1, 'a training file this shape is cut every 4 exchanges');
  assert.is(convs[0].turns.length, 14);
  assert.equal(readMarkedChat(text, SP).notes, [], 'nothing cut, nothing said');
});

t('a [recall] whose value is said nowhere before it in its conversation (a blank line parted them) is noted; the shipped set has none', () => {
  const split = 'Human: I am Zorbat.\nBot: Hi.\n\nHuman: Who am I?\nBot: You are Zorbat. [recall: Zorbat]\n\nHuman: And my dog?\nBot: Rex. [recall: Rex]\n';
  assert.equal(readMarkedChat(split, SP).notes, ['2 [recall: ...] questions ask for a value said nowhere earlier in their conversation (first: conversation 2, turn 2): a blank line ends a conversation, so one between a fact and its question parts them']);
  // said by either speaker, any alternative, case and punctuation aside; an earlier mark's other alternatives do not count
  assert.equal(readMarkedChat('Human: Call me zorbat! I have seven cats.\nBot: OK. Name your dog Rex.\nHuman: Who am I?\nBot: Zorbat. [recall: Zorbat]\nHuman: Cats?\nBot: 7. [recall: 7 | seven]\nHuman: Dog?\nBot: Rex. [recall: Rex]', SP).notes, []);
  assert.match(readMarkedChat('Human: Cats?\nBot: 7. [recall: 7 | seven]\nHuman: Cats?\nBot: Seven. [recall: seven]', SP).notes.join('\n'), /^2 \[recall: \.\.\.\] questions ask/);
  assert.equal(readMarkedChat(read('data/eval.txt'), SP).notes, []);
  assert.equal(readMarkedChat(read('data/eval-copy.txt'), SP).notes, []);
});

t('Chinese and Japanese, written without spaces: each character is a word, so a value is found inside a sentence', () => {
  assert.equal(words('你的猫叫小花。Tom好!'), ['你', '的', '猫', '叫', '小', '花', 'tom', '好']);
  assert.ok(containsValue('你的猫叫小花。', ['小花']));
  assert.ok(containsValue('こんにちは、たろうさん', ['たろう']));
  assert.ok(containsValue('我叫Tom。', ['tom']));
  assert.not.ok(containsValue('你的猫叫小草。', ['小花']));
  assert.not.ok(containsValue('我叫Tomas。', ['Tom']), 'a Latin word stays whole');
  const text = 'Human: 我的猫叫小花。\nBot: 好的。\nHuman: 我的猫叫什么？\nBot: 你的猫叫小花。 [recall: 小花]\n\nHuman: 私の名前はたろうです。\nBot: はい。\nHuman: 私の名前は？\nBot: たろうさんです。 [recall: たろう]';
  const { conversations, notes } = readMarkedChat(text, SP);
  assert.equal(conversations.map((c) => c.marks[3]), [{ kind: 'recall', values: ['小花'] }, { kind: 'recall', values: ['たろう'] }]);
  assert.equal(notes, [], 'the values are said earlier');
  assert.equal(valueSpan('你的猫叫小花。', ['小花']), [12, 18], 'the recall loss scores the value\'s bytes');
  assert.equal(valueSpan('我叫Tomas, Tom。', ['Tom']), [13, 16]);
  // the long-vowel mark ー (Common by Script, Katakana by Script_Extensions) is part of the katakana word, not of a number after it
  assert.equal(words('コーヒー3杯'), ['コ', 'ー', 'ヒ', 'ー', '3', '杯']);
  // marks stay inside their word (Devanagari vowel signs and virama, Thai vowels and tones)
  assert.equal(words('नमस्ते दुनिया'), ['नमस्ते', 'दुनिया']);
  assert.equal(words('กรุงเทพ สวัสดี'), ['กรุงเทพ', 'สวัสดี']);
  assert.equal(words('か\u3099き'), ['か\u3099', 'き'], 'が written as か and its voicing mark (NFD) is が, not か');
  assert.not.ok(hasRepeated3gram('का के की, को कि कु'), 'six Hindi words, no two alike (without their vowel signs, six times क)');
  assert.ok(containsValue('コーヒー3杯です。', ['コーヒー']));
  assert.equal(valueSpan('コーヒー3杯です。', ['コーヒー']), [0, 12]);
});

t('recall match: NFKC on both sides, so full-width and compatibility forms are the letters they show', () => {
  assert.ok(containsValue('ＡＢＣ１２３', ['ABC123']));
  assert.ok(containsValue('Your code is ABC123.', ['ＡＢＣ１２３']));
  assert.ok(containsValue('Your code is ａｂｃ１２３！', ['ABC123']), 'then case and punctuation folded as before');
  assert.ok(containsValue('A \ufb01sh called Rex', ['fish']), 'the fi ligature');
  assert.ok(containsValue('Cafe\u0301 Noir', ['café noir']), 'a decomposed accent');
  assert.ok(containsValue('It was 25\u2103.', ['25°C']), '℃ is °C');
  assert.ok(containsValue('Acme\u2122 makes it', ['Acme']), 'a symbol NFKC spells with letters (™) stays a word apart');
  assert.not.ok(containsValue('ＡＢＣ１２３４', ['ABC123']), 'whole words still');
  // case in full: a capital ß is SS (German caps), a final sigma is a sigma
  assert.ok(containsValue('Sie wohnen in der HAUPTSTRASSE.', ['Hauptstraße']) && containsValue('Hauptstraße 5', ['HAUPTSTRASSE']), 'ß in capitals');
  assert.ok(containsValue('ΟΔΥΣΣΕΥΣ', ['οδυσσευς']) && containsValue('Ὀδυσσεύς', ['ὈΔΥΣΣΕΎΣ']), 'σ and ς');
  // the note on a value said nowhere earlier uses the same match
  assert.equal(readMarkedChat('Human: My code is ＡＢＣ１２３.\nBot: Noted.\nHuman: My code?\nBot: ABC123. [recall: ABC123]', SP).notes, []);
});

t('recall match in Thai, Lao, Khmer and Myanmar (no spaces between words): a value is found inside a longer run, never inside a letter', () => {
  assert.ok(containsValue('คุณชื่อสมชายครับ', ['สมชาย']));
  assert.not.ok(containsValue('คุณชื่อสมศรีครับ', ['สมชาย']));
  assert.not.ok(containsValue('กรุงเทพ', ['กร']), 'ร without its vowel sign ุ is not รุ');
  assert.ok(containsValue('ຂ້ອຍຊື່ສົມໃຈ', ['ສົມໃຈ']));
  assert.ok(containsValue('ខ្ញុំឈ្មោះសុខា', ['សុខា']));
  assert.ok(containsValue('ကျွန်တော့်နာမည်မောင်မောင်ပါ', ['မောင်မောင်']));
  // a file in Thai reads: the reference reply says the value (the recall loss's span), and the fact before it is found
  const { conversations, notes } = readMarkedChat('Human: ผมชื่อสมชายครับ\nBot: สวัสดีครับ\nHuman: ผมชื่ออะไร\nBot: คุณชื่อสมชายครับ [recall: สมชาย]', SP);
  assert.equal(conversations[0].marks[3], { kind: 'recall', values: ['สมชาย'] });
  assert.equal(notes, []);
  assert.equal(valueSpan('คุณชื่อสมชายครับ', ['สมชาย']), [21, 36]);
  assert.is(valueSpan('กรุงเทพ', ['กร']), null);
  // spaced scripts keep their combining marks: Hindi रामू (Ramu) is not राम (Ram)
  assert.ok(containsValue('आपका नाम राम है', ['राम']));
  assert.not.ok(containsValue('आपका नाम रामू है', ['राम']));
  assert.is(valueSpan('आपका नाम रामू है', ['राम']), null);
});

t('recall match in Korean: a value followed directly by Hangul (a particle or counter) counts; one inside a longer word does not', () => {
  assert.ok(containsValue('서울에서 왔어요', ['서울']));
  assert.ok(containsValue('고양이 3마리', ['3']));
  assert.ok(containsValue('Tom은 친구예요', ['Tom']));
  assert.not.ok(containsValue('남서울에서 왔어요', ['서울']));
  assert.not.ok(containsValue('서울abc', ['서울']));
  assert.equal(valueSpan('서울에서 왔어요', ['서울']), [0, 6]);
  assert.equal(readMarkedChat('Human: 저는 서울에서 왔어요\nBot: 네\nHuman: 어디서 왔죠?\nBot: 서울에서 왔어요 [recall: 서울]', SP).notes, []);
});

t('recall match: an emoji or symbol is a word, matched rather than folded away; a value of punctuation alone is an error naming its line', () => {
  assert.ok(containsValue('Your dog is 🐶!', ['🐶']));
  assert.not.ok(containsValue('Your dog is Rex.', ['🐶']), 'not erased to match everything');
  assert.ok(containsValue('I \u2764\ufe0f it', ['\u2764']), 'with or without the emoji variation selector');
  assert.not.ok(containsValue('👩\u200d💻', ['👩']), 'not a part of a joined emoji');
  assert.ok(containsValue('I write C++.', ['C++']));
  assert.not.ok(containsValue('I write C.', ['C++']));
  assert.ok(containsValue('Ticket #42 it is', ['#42']) && containsValue('Ticket 42', ['#42']), '# is punctuation: #42 is 42');
  assert.equal(valueSpan('Your dog is 🐶!', ['🐶']), [12, 16]);
  assert.ok(matchesNothing('...') && matchesNothing('#') && !matchesNothing('🐶') && !matchesNothing('$'));
  assert.throws(() => readMarkedChat('Human: Hi.\nBot: Hello.\nHuman: What did I say?\nBot: You said\n  "...". [recall: ...]', SP),
    /^conversation 1, turn 4 \(line 5: "You said "\.\.\."\. \[recall: \.\.\.\]"\): the value "\.\.\." is punctuation alone, which the recall match ignores, so no reply could contain it: write a value with a letter, digit, emoji or symbol, e.g. \[recall: Zorbat\]$/);
});

t('recall loss: the mask covers exactly the recalled value\'s tokens in the reference reply, in its conversation\'s own window', () => {
  const text = 'Human: I am Zorbat.\nBot: Hi Zorbat.\nHuman: Who am I?\nBot: You are ZORBAT, I think. [recall: Kelvin | zorbat]\n\n' +
    'Human: How old am I?\nBot: You haven\'t told me. [unknown]\n\n' + // no recall: no window
    'Human: Call me Pia.\nBot: Hi!\nHuman: 2+2?\nBot: 4.\nHuman: My name?\nBot: Pia. [recall: Pia]\n';
  const T = 40;
  const ds = recallValueDataset(parseMarkedChat(text, SP), SP, T);
  assert.is(ds.stats.windows, 2);
  const masked = (w: number) => decode([...ds.tokens.slice(w * T, w * T + T)].filter((_, i) => ds.mask[w * T + i]));
  assert.is(masked(0), ' ZORBAT', 'the first alternative found, case ignored; every token of it and only those');
  assert.is(masked(1), ' Pia');
  assert.is(decode([...ds.tokens.slice(0, T)]).replace(/(<\|endoftext\|>)+$/, '<|endoftext|>'),
    'Human: I am Zorbat.\nBot: Hi Zorbat.<|endoftext|>\nHuman: Who am I?\nBot: You are ZORBAT, I think.<|endoftext|>\n<|endoftext|>', 'the conversation as training encodes it, padded');
  // a window too short for the whole conversation drops its oldest exchanges (here: all but the question)
  const short = recallValueDataset(parseMarkedChat(text, SP), SP, 16);
  assert.match(decode([...short.tokens.slice(16, 32)]), /^Human: My name\?\nBot: Pia\./);
  assert.is(decode([...short.tokens.slice(16, 32)].filter((_, i) => short.mask[16 + i])), ' Pia');
});

// ---------------------------------------------------------------- scores
const reply = (o: Partial<ScoredReply>): ScoredReply => ({
  conversation: 0, turn: 1, message: 'hi', reference: 'Hello!', mark: null, reply: 'Hello!', reason: 'eot', droppedExchanges: 0, personaCut: 0, messageCut: 0, ...o,
});

t('scores on hand-written replies: one repeats, one never stops, one recalls, one invents', () => {
  const training = trainingReplies(parseChat('Human: hi\nBot: Nice to meet you, Ibrahim!\nHuman: bye\nBot: Goodbye!', SP));
  const replies = [
    reply({ reply: 'I like cats and I like cats and I like cats.' }), // repeats a 3-gram
    reply({ reply: 'The capital of the tree is the', reason: 'length' }), // never stopped
    reply({ turn: 3, mark: { kind: 'recall', values: ['Zorbat'] }, reference: 'You are Zorbat.', reply: 'Your name is zorbat!' }), // recalls
    reply({ turn: 5, mark: { kind: 'unknown' }, reference: 'You haven\'t told me your name.', reply: 'Nice to meet you, Ibrahim!' }), // invents, and copies
    reply({ conversation: 1, mark: { kind: 'recall', values: ['Kelvani'] }, reply: 'Your name is Kelvin.' }), // recalls the wrong name
    reply({ conversation: 2, mark: { kind: 'recall', values: ['Oslo'] }, reply: "You haven't told me where you live." }), // denies what it was told
    reply({ conversation: 1, turn: 3, mark: { kind: 'unknown' }, reply: 'Hmm, you never told me that.' }),
    reply({ conversation: 1, turn: 5, reply: 'your name is KELVIN. ', reason: 'stop' }), // the same reply again; a stop string, not <|endoftext|>
    reply({ conversation: 1, turn: 7, reference: 'Goodbye!', reply: 'Goodbye!' }), // a training reply, but the right one
  ];
  const s = score(replies, training);
  assert.is(s.replies, 9);
  assert.equal(s.stopped, { count: 7, of: 9 });
  assert.equal(s.repeated3gram, { count: 1, of: 9 });
  assert.equal(s.identical, { count: 1, of: 9 });
  assert.equal(s.recall, { count: 1, of: 3 });
  assert.equal(s.honesty, { count: 1, of: 2 });
  assert.equal(s.denied, { count: 1, of: 3 }, 'a recall question answered as never told');
  assert.equal(s.copying, { count: 1, of: 9 });
  assert.is(s.recallOutOfContext, 0);
  assert.ok(s.distinct2 !== null && s.distinct2 > 0 && s.distinct2 < 1);
});

t('score pieces: words, 3-grams, values, admissions, distinct-2', () => {
  assert.equal(words("Zorbat's cat, 12 fish!"), ['zorbat', 's', 'cat', '12', 'fish']);
  assert.ok(hasRepeated3gram('no no no no'));
  assert.not.ok(hasRepeated3gram('no no no'));
  assert.not.ok(hasRepeated3gram('a b c a b d'));
  assert.ok(containsValue('It was "4817".', ['4817']));
  assert.ok(containsValue("That's Zorbat's ferret", ['zorbat']));
  assert.ok(containsValue('You play the bass guitar.', ['bass guitar']));
  assert.not.ok(containsValue('Zorbatty!', ['Zorbat']), 'whole words only');
  assert.not.ok(containsValue('It was 48170.', ['4817']));
  assert.ok(containsValue('Seven.', ['7', 'seven']), 'any alternative');
  for (const yes of ["You haven't told me your name yet.", 'You havent told me.', 'I don\u2019t know.', 'You did not say.', "I'm not sure.", 'No idea!', 'You never mentioned it.']) {
    assert.ok(admitsNotKnowing(yes), yes);
  }
  for (const no of ['Your name is Bob.', 'You told me you live in Oslo.', 'I know!', 'Sure, it is 7.']) assert.not.ok(admitsNotKnowing(no), no);
  // English only, as README says: an admission in another language is not counted
  for (const other of ['ฉันไม่รู้ครับ', '我不知道。', 'No lo sé.']) assert.not.ok(admitsNotKnowing(other), other);
  assert.is(distinct2(['a b c', 'a b d']), 3 / 4);
  assert.is(distinct2(['one', '']), null);
});

t('wilson95: the rates a count is consistent with (the roots of the score test), clipped to [0, 1]', () => {
  const z = 1.959964;
  for (const [count, of] of [[2, 23], [12, 23], [23, 23], [0, 65], [39, 65], [1, 1], [5, 187]]) {
    const [lo, hi] = wilson95({ count, of });
    const p = count / of;
    assert.ok(lo <= p && p <= hi, `${count}/${of}: ${lo}..${hi}`);
    // an endpoint inside (0, 1) is a rate r where the observed rate sits exactly z standard errors away
    for (const r of [lo, hi]) if (r > 1e-12 && r < 1 - 1e-12) assert.ok(Math.abs((p - r) ** 2 - (z * z * r * (1 - r)) / of) < 1e-12, `${count}/${of} at ${r}`);
  }
  const [lo, hi] = wilson95({ count: 2, of: 23 });
  assert.ok(Math.abs(lo - 0.0242) < 5e-4 && Math.abs(hi - 0.268) < 5e-4, `2/23: ${lo}..${hi}`);
  assert.equal(wilson95({ count: 0, of: 65 })[0], 0);
  assert.ok(Math.abs(wilson95({ count: 0, of: 65 })[1] - (z * z) / (65 + z * z)) < 1e-12);
  assert.equal(wilson95({ count: 0, of: 0 }), [0, 1]);
});

// ---------------------------------------------------------------- the shipped held-out set
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

const chat = read('data/chat.txt');
const trainWords = new Set(words(chat));
const key = (s: string) => words(s).join(' ');
const trainHuman = new Set(parseChat(chat, SP).flatMap((c) => c.turns.filter((x) => x.speaker === 'human').map((x) => key(x.text))));

/** the conversations of a shipped held-out file, after checking that no value it asks for occurs in data/chat.txt */
function heldOutSet(file: string, minRecall: number, minUnknown: number) {
  const convs = parseMarkedChat(read(file), SP);
  const marks = convs.flatMap((c) => c.marks.filter((m) => m !== null));
  const values = marks.flatMap((m) => (m.kind === 'recall' ? m.values : []));
  assert.ok(values.length >= minRecall, `${file}: ${values.length} recall questions`);
  assert.ok(marks.filter((m) => m.kind === 'unknown').length >= minUnknown, `${file}: honesty questions`);
  for (const v of values) {
    const seen = words(v).filter((w) => trainWords.has(w));
    assert.is(seen.length, 0, `${file}: the value '${v}' occurs in data/chat.txt (${seen.join(', ')})`);
  }
  return convs;
}

t('data/eval.txt: marked facts, none of whose values (and none of whose user lines) is in data/chat.txt', () => {
  for (const c of heldOutSet('data/eval.txt', 40, 15)) for (const x of c.turns) if (x.speaker === 'human') assert.not.ok(trainHuman.has(key(x.text)), `'${x.text}' is also in chat.txt`);
});

t('data/eval-copy.txt: marked facts whose values are not in data/chat.txt, stated and asked in user lines that are', () => {
  const convs = heldOutSet('data/eval-copy.txt', 60, 10);
  // a user line is a training phrasing when some user line of chat.txt reads the same with other
  // words (1 to 3) in the place of each run of words chat.txt never has (the values)
  const trainLines = `\n${[...trainHuman].join('\n')}\n`;
  const VALUE = '[^ \\n]+(?: [^ \\n]+){0,2}';
  const phrasing = (line: string) => new RegExp(`\\n${key(line).split(' ').map((w) => (trainWords.has(w) ? w : '*')).join(' ').replace(/\*( \*)*/g, VALUE)}\\n`);
  let questions = 0, statements = 0;
  for (const c of convs) {
    const values = c.marks.flatMap((m) => (m?.kind === 'recall' ? m.values : []));
    c.turns.forEach((x, i) => {
      const asked = c.marks[i + 1] != null; // the Human line a marked Bot line answers
      const states = values.some((v) => ` ${key(x.text)} `.includes(` ${key(v)} `));
      if (x.speaker !== 'human' || !(asked || states)) return;
      if (asked) questions++; else statements++;
      assert.ok(phrasing(x.text).test(trainLines), `'${x.text}' is not phrased as any user line of chat.txt`);
    });
  }
  assert.ok(questions >= 70 && statements >= 60, `${questions} questions and ${statements} statements checked`);
  // and the check can fail: a question eval.txt asks, and a value in a phrasing of its own
  assert.not.ok(phrasing('Which instrument have I taken up?').test(trainLines));
  assert.not.ok(phrasing('The name\'s Brulvik.').test(trainLines));
  assert.ok(phrasing('My name is Brulvik.').test(trainLines));

  // every value is said in tokens chat.txt has, as eval.js's recall loss and seen-tokens row count
  // them: a copier trained from scratch on chat.txt can output all of it
  const chatTokens = trainingTokens(chat);
  const unseenValueTokens = (cs: MarkedConversation[]) => {
    const d = recallValueDataset(cs, SP, 256);
    assert.is(d.stats.conversations, cs.length, 'a conversation whose values the recall loss does not score');
    return [...d.tokens].filter((x, i) => d.mask[i] && !chatTokens.has(x)).map((x) => decode([x]));
  };
  assert.equal(unseenValueTokens(convs), [], 'value tokens chat.txt never has');
  // and the check can fail: " oboe" is " ob", "oe", and chat.txt never has " ob"
  assert.equal(unseenValueTokens(parseMarkedChat('Human: I play the oboe.\nBot: The oboe! That\'s a wonderful instrument.\nHuman: What instrument do I play?\nBot: You play the oboe. [recall: oboe]', SP)), [' ob']);
});

t('data/chat-copy.txt (extra training data for copying): no value eval.txt or eval-copy.txt asks for, every conversation asks a fact back', () => {
  const copyTrain = read('data/chat-copy.txt');
  const copyWords = new Set(words(copyTrain));
  for (const file of ['data/eval.txt', 'data/eval-copy.txt']) {
    const values = parseMarkedChat(read(file), SP).flatMap((c) => c.marks.flatMap((m) => (m?.kind === 'recall' ? m.values : [])));
    assert.ok(values.length >= 60, `${file}: ${values.length} values`);
    for (const v of values) assert.is(words(v).filter((w) => copyWords.has(w)).length, 0, `${file}'s value '${v}' is in data/chat-copy.txt`);
  }
  const convs = parseChat(copyTrain, SP);
  assert.is(convs.length, 12000);
  // a fact asked back: a Bot line saying a word chat.txt never has that the user said before the
  // line it answers, and not in that line (an acknowledgement answers the line stating it)
  const asksBack = (c: (typeof convs)[number]) =>
    c.turns.some((x, i) => {
      if (x.speaker !== 'bot' || i < 1) return false;
      const asked = new Set(words(c.turns[i - 1].text));
      const earlier = new Set(c.turns.slice(0, i - 1).filter((y) => y.speaker === 'human').flatMap((y) => words(y.text)));
      return words(x.text).some((w) => !trainWords.has(w) && earlier.has(w) && !asked.has(w));
    });
  assert.is(convs.filter(asksBack).length, convs.length, 'conversations that ask nothing back');
  // and the check can fail
  assert.not.ok(asksBack(parseChat('Human: I\'m Zorbulon.\nBot: Nice to meet you, Zorbulon!\nHuman: What is 2 plus 2?\nBot: 4.', SP)[0]));
  assert.ok(asksBack(parseChat('Human: I\'m Zorbulon.\nBot: Hi!\nHuman: Who am I?\nBot: You\'re Zorbulon.', SP)[0]));
});

t('data/chat.txt, data/eval.txt, data/eval-copy.txt and data/chat-copy.txt are what scripts/generate-chat-data.mjs writes', () => {
  const out = join(tmp, 'chat.txt'), evalOut = join(tmp, 'eval.txt'), copyOut = join(tmp, 'eval-copy.txt'), copyTrainOut = join(tmp, 'chat-copy.txt');
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/generate-chat-data.mjs'), '--out', out, '--eval-out', evalOut, '--eval-copy-out', copyOut, '--copy-train-out', copyTrainOut], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.ok(readFileSync(out, 'utf8') === chat, 'data/chat.txt differs from the generator output: rerun it');
  assert.ok(readFileSync(evalOut, 'utf8') === read('data/eval.txt'), 'data/eval.txt differs from the generator output: rerun it');
  assert.ok(readFileSync(copyOut, 'utf8') === read('data/eval-copy.txt'), 'data/eval-copy.txt differs from the generator output: rerun it');
  assert.ok(readFileSync(copyTrainOut, 'utf8') === read('data/chat-copy.txt'), 'data/chat-copy.txt differs from the generator output: rerun it');
});

t('data/chat.txt, data/eval.txt, data/eval-copy.txt and data/chat-copy.txt: "an" before a vowel sound, "a" before a consonant sound', () => {
  // the first letter tells the sound except for u (an umbrella, a ukulele), eu (a euro), one (a
  // one-eyed) and a silent h (an hour): a word of the files starting so is listed here, read by hand
  const BY_HAND: Record<string, 'a' | 'an'> = { umbrella: 'an', ukulele: 'a' };
  const article = (word: string) => BY_HAND[word] ?? (/^(u|eu|one|once|hour|honest|honou?r|heir)/.test(word) ? null : /^[aeiou]/.test(word) ? 'an' : 'a');
  const wrong = (text: string) => {
    const bad = new Set<string>();
    for (const [phrase, a, word] of text.toLowerCase().matchAll(/\b(an?) ([a-z]+)/g)) {
      const want = article(word);
      if (want === null) throw new Error(`'${phrase}': add '${word}' to the words read by hand`);
      if (a !== want) bad.add(phrase);
    }
    return [...bad].sort();
  };
  assert.equal(wrong(read('data/eval.txt')), []);
  assert.equal(wrong(read('data/eval-copy.txt')), []);
  assert.equal(wrong(chat), []);
  assert.equal(wrong(read('data/chat-copy.txt')), []);
  // and the check can fail, on a word read by hand and on one not
  assert.equal(wrong('Bot: An ukulele and a owl, an umbrella and a hexagon.'), ['a owl', 'an ukulele']);
  assert.throws(() => wrong('Bot: An unicorn!'), /add 'unicorn'/);
});

// ---------------------------------------------------------------- replay through ChatSession
t('generateReplies: each reply is prompted with the gold history up to its Human turn, as chat.js formats it', async () => {
  const prompts = new Set<string>();
  const gen = new FakeGenerator(replyScript(encode('Bot:'), (p) => {
    prompts.add(decode([...p]));
    return [...encode(' ok'), EOT];
  }));
  const convs = parseMarkedChat('Human: I am Zorbat.\nBot: Hi Zorbat.\nHuman: Who am I?\nBot: You are Zorbat. [recall: Zorbat]\n\nHuman: 2+2?\nBot: 4.', SP);
  const out = await generateReplies(gen, convs, { ...defaultChatOptions(), persona: 'Be kind.' });
  assert.equal([...prompts], [
    'Be kind.\nHuman: I am Zorbat.\nBot:',
    'Be kind.\nHuman: I am Zorbat.\nBot: Hi Zorbat.<|endoftext|>\nHuman: Who am I?\nBot:',
    'Be kind.\nHuman: 2+2?\nBot:',
  ]);
  assert.equal(out.map((r) => [r.conversation, r.turn, r.message, r.reference, r.reply, r.reason]), [
    [0, 1, 'I am Zorbat.', 'Hi Zorbat.', 'ok', 'eot'],
    [0, 3, 'Who am I?', 'You are Zorbat.', 'ok', 'eot'],
    [1, 1, '2+2?', '4.', 'ok', 'eot'],
  ]);
  assert.equal(out[1].mark, { kind: 'recall', values: ['Zorbat'] });
});

// ---------------------------------------------------------------- the CLI
function evalJs(args: string[], cwd = ROOT): { code: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.DEBUG; // DEBUG turns the one-line errors into stack traces
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/eval.js'), ...args], { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const errorLines = (s: string) => s.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('Warning:'));

t('eval.js on a tiny random checkpoint: the same JSON twice', () => {
  const ckpt = join(tmp, 'tiny');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 };
  saveGPT2Weights(ckpt, config, GPT2.initArrays(config, 7));
  const data = join(tmp, 'held-out.txt'), train = join(tmp, 'train.txt');
  writeFileSync(data, 'Human: I am Zorbat.\nBot: Hi Zorbat.\nHuman: Who am I?\nBot: You are Zorbat. [recall: Zorbat]\n\nHuman: How old am I?\nBot: You haven\'t told me. [unknown]\n');
  writeFileSync(train, SMALL_CHAT);
  const args = ['--init', ckpt, '--data', data, '--train-data', train, '--json', '--max-new-tokens', '6'];
  const a = evalJs(args), b = evalJs(args);
  assert.is(a.code, 0, a.stderr);
  assert.match(a.stderr, /\neval: val loss over \d+ windows? of 64 tokens\neval: recall loss over \d+ windows? \(the values' tokens, then those seen in training\)\neval: conversation 2\/2, 3\/3 replies, \d+s\n/, 'each phase is said before it runs; no ETA once done');
  assert.is(a.stdout, b.stdout, 'same seed, same JSON');
  const j = JSON.parse(a.stdout);
  assert.is(j.replies.length, 3);
  assert.equal([j.scores.recall.of, j.scores.honesty.of, j.scores.replies], [1, 1, 3]);
  assert.ok(Math.abs(j.valLoss - Math.log(50257)) < 0.5, `an untrained model's loss is about ln(vocab): ${j.valLoss}`);
  assert.is(j.valTokens, encode(' Hi Zorbat.').length + encode(' You are Zorbat.').length + encode(" You haven't told me.").length + 3, 'Bot tokens and their <|endoftext|>');
  assert.is(j.recallTokens, encode(' Zorbat').length, 'the recall loss covers the recalled value only');
  const seen = new Set(encode(SMALL_CHAT));
  assert.is(j.recallTokensSeen, encode(' Zorbat').filter((x) => seen.has(x)).length);
  assert.ok(j.recallTokensSeen < j.recallTokens, 'SMALL_CHAT has no Zorbat');
  assert.ok(Math.abs(j.recallLoss - Math.log(50257)) < 1, `an untrained model's recall loss is about ln(vocab): ${j.recallLoss}`);
  const c = evalJs([...args, '--seed', '2']);
  const one = join(tmp, 'one.txt');
  writeFileSync(one, 'Human: I am Zorbat.\nBot:\nHuman: Who am I?\nBot: You are Zorbat. [recall: Zorbat]\n');
  const d = evalJs(['--init', ckpt, '--data', one, '--train-data', train, '--max-new-tokens', '1']);
  assert.is(d.code, 0, d.stderr);
  assert.match(d.stderr, /^eval: .*one\.txt: 1 conversation, 1 reply to generate\neval: note: 1 empty turn .* \(first: line 2\)$/m);
  assert.match(d.stdout, /one\.txt: 1 conversation, 1 reply, seed/);
  assert.match(d.stdout, /replies ended with <\|endoftext\|> within 1 token$/m);
  // the default --max-new-tokens (64) does not fit a 64-token context: half of it, said; given, it is refused
  const e = evalJs(['--init', ckpt, '--data', one, '--train-data', train]);
  assert.is(e.code, 0, e.stderr);
  assert.match(e.stderr, /^eval: note: replies of at most 32 tokens, half this model's 64-token context \(the default 64 does not fit; --max-new-tokens sets it\)$/m);
  assert.match(e.stdout, /replies ended with <\|endoftext\|> within 32 tokens$/m);
  const f = evalJs(['--init', ckpt, '--data', one, '--train-data', train, '--max-new-tokens', '64']);
  assert.is(f.code, 1);
  assert.match(f.stderr, /^error: --max-new-tokens must be < the context length 64, got 64$/m);
  // the replies, not the whole JSON (whose settings name the seed, so it differs whatever the replies)
  assert.is(c.code, 0, c.stderr);
  assert.not.equal(JSON.parse(c.stdout).replies.map((x: ScoredReply) => x.reply), j.replies.map((x: ScoredReply) => x.reply), 'another seed, other replies');
});

t('eval.js: a persona or a Human turn cut to fit the context is said on stderr, and per reply in the JSON', () => {
  const ckpt = join(tmp, 'cut');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 };
  saveGPT2Weights(ckpt, config, GPT2.initArrays(config, 7));
  const data = join(tmp, 'cut.txt');
  writeFileSync(data, `Human: Hi.\nBot: Hello.\nHuman: ${'a long story '.repeat(30)}\nBot: Nice.\n`);
  const args = ['--init', ckpt, '--data', data, '--train-data', data, '--json', '--max-new-tokens', '4'];
  const r = evalJs([...args, '--persona', 'You are Pip, a kind bot. '.repeat(10)]);
  assert.is(r.code, 0, r.stderr);
  // 60 tokens for the prompt: the persona (70 tokens) is cut in both, the 90-token message in the second
  assert.equal(JSON.parse(r.stdout).replies.map((x: ScoredReply) => [x.personaCut > 0, x.messageCut > 0]), [[true, false], [true, true]]);
  assert.match(r.stderr, /^eval: note: the persona was cut from its start to fit the context in 2 of 2 prompts \(by up to \d+ tokens, after all earlier turns were left out\): a shorter --persona, or a lower --max-new-tokens, keeps it whole$/m);
  assert.match(r.stderr, /^eval: note: 1 Human turn alone did not fit the context and lost its start: a lower --max-new-tokens gives it room$/m);
  // prompted in other tags, the note names the turn by the prompt's tag
  const tagged = evalJs([...args, '--human', 'User', '--bot', 'AI']);
  assert.is(tagged.code, 0, tagged.stderr);
  assert.match(tagged.stderr, /^eval: note: 1 User turn alone did not fit the context/m);
  const short = join(tmp, 'short.txt');
  writeFileSync(short, 'Human: Hi.\nBot: Hello.\n');
  const whole = evalJs([...args, '--data', short, '--persona', 'Be kind.']);
  assert.is(whole.code, 0, whole.stderr);
  assert.not.match(whole.stderr, /was cut|did not fit/);
});

t('eval.js: Ctrl-C while replying scores the conversations finished so far (as --limit would), says so, exits 130', async () => {
  const ckpt = join(tmp, 'interrupted');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 };
  saveGPT2Weights(ckpt, config, GPT2.initArrays(config, 7));
  const data = join(tmp, 'many.txt'), train = join(tmp, 'train.txt');
  writeFileSync(data, Array.from({ length: 200 }, (_, i) => `Human: I am Zorbat${i}.\nBot: Hi.\nHuman: Who am I?\nBot: Zorbat${i}. [recall: Zorbat${i}]\n`).join('\n'));
  writeFileSync(train, SMALL_CHAT);
  // a random model seldom ends a reply: each runs to --max-new-tokens, so the run lasts long enough to be stopped
  const args = ['--init', ckpt, '--data', data, '--train-data', train, '--json', '--max-new-tokens', '16'];
  const p = start('eval', args);
  p.child.stdin!.end();
  await waitForOutput(p, 'stderr', /eval: conversation 10\/200/);
  p.child.kill('SIGINT');
  const r = await p.done;
  assert.is(r.code, 130, `exit code ${r.code} (signal ${r.signal})\n${r.stderr}`);
  // progress every 10 conversations, with the time left at the pace of the replies so far
  assert.match(r.stderr, /^eval: conversation 10\/200, 20\/400 replies, (\d+m)?\d+s, ETA (\d+m)?\d+s$/m);
  assert.match(r.stderr, /^eval: interrupt: stopping; the conversations finished so far are scored/m);
  const j = JSON.parse(r.stdout);
  const n = j.interrupted.conversations;
  assert.ok(n >= 10 && n < 200, `${n} conversations finished`);
  assert.equal(j.interrupted, { signal: 'SIGINT', conversations: n });
  assert.match(r.stderr, new RegExp(`the replies of the first ${n} conversations of 200 are scored \\(--limit ${n} gives the same replies\\)`));
  assert.equal([j.replies.length, j.scores.replies, j.scores.recall.of], [2 * n, 2 * n, n], 'whole conversations only');
  const limited = evalJs([...args, '--limit', String(n)]);
  assert.is(limited.code, 0, limited.stderr);
  assert.equal(j.replies, JSON.parse(limited.stdout).replies, 'the replies of --limit N');
});

t('eval.js: Ctrl-C before the first conversation is finished still prints the losses, computed by then, with no reply scored', async () => {
  const ckpt = join(tmp, 'interrupted-early');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 };
  saveGPT2Weights(ckpt, config, GPT2.initArrays(config, 7));
  // one conversation of 400 replies, each run to --max-new-tokens by a random model: far longer than the wait below
  const data = join(tmp, 'one-long.txt');
  writeFileSync(data, Array.from({ length: 400 }, (_, i) => `Human: I am Zorbat${i}.\nBot: Hi Zorbat${i}. [recall: Zorbat${i}]`).join('\n'));
  const p = start('eval', ['--init', ckpt, '--data', data, '--train-data', data, '--json', '--max-new-tokens', '16']);
  p.child.stdin!.end();
  await waitForOutput(p, 'stderr', /eval: recall loss over/);
  await new Promise((r) => setTimeout(r, 3000)); // its two windows take milliseconds; the replies, many seconds
  p.child.kill('SIGINT');
  const r = await p.done;
  assert.is(r.code, 130, `exit code ${r.code} (signal ${r.signal})\n${r.stderr}`);
  assert.match(r.stderr, /^eval: interrupt after [\d.]+ s: no conversation was finished: no reply is scored; the losses are over all 1$/m);
  const j = JSON.parse(r.stdout);
  assert.equal([j.interrupted, j.replies, j.scores.replies, j.scores.distinct2], [{ signal: 'SIGINT', conversations: 0 }, [], 0, null]);
  assert.ok(j.valLoss > 0 && j.recallLoss > 0 && j.valTokens > 0, `the losses: ${j.valLoss}, ${j.recallLoss}`);
});

t('eval.js: SIGTERM (or Ctrl-C) during the recall loss still prints the validation loss and perplexity, computed by then, marked interrupted; exits 143', async () => {
  const ckpt = join(tmp, 'interrupted-recall');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 256 };
  saveGPT2Weights(ckpt, config, GPT2.initArrays(config, 7));
  // 200 short conversations: the Bot turns pack into few windows of 256 tokens, the recall loss takes one each (twice: seen tokens)
  const data = join(tmp, 'many-recalls.txt');
  writeFileSync(data, Array.from({ length: 200 }, (_, i) => `Human: I am Zorbat${i}.\nBot: Hi Zorbat${i}. [recall: Zorbat${i}]\n`).join('\n'));
  const args = ['--init', ckpt, '--data', data, '--train-data', data, '--max-new-tokens', '16'];
  for (const [sig, code, json] of [['SIGTERM', 143, true], ['SIGINT', 130, false]] as const) {
    const p = start('eval', [...args, ...(json ? ['--json'] : [])]);
    p.child.stdin!.end();
    await waitForOutput(p, 'stderr', /eval: recall loss over 400 windows/);
    p.child.kill(sig);
    const r = await p.done;
    assert.is(r.code, code, `exit code ${r.code} (signal ${r.signal})\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^eval: ${sig === 'SIGINT' ? 'interrupt' : sig}: stopping; the validation loss is reported`, 'm'));
    assert.match(r.stderr, /: no conversation was finished: no reply is scored; the recall loss was cut short \(not computed\); the validation loss is over all 200$/m);
    if (json) {
      const j = JSON.parse(r.stdout);
      assert.equal([j.interrupted, j.replies, j.recallLoss, j.recallLossSeen], [{ signal: sig, conversations: 0 }, [], null, null]);
      assert.ok(j.valLoss > 0 && j.valTokens > 0 && j.recallTokens > 0, `the loss: ${j.valLoss} over ${j.valTokens}`);
      assert.is(j.perplexity, Math.exp(j.valLoss));
    } else {
      assert.match(r.stdout, /: the first 0 of 200 conversations \(interrupted\), 0 replies,/);
      assert.match(r.stdout, /^ {2}val loss +\d+\.\d{3} +perplexity \d+\.\d, over \d+ Bot tokens$/m);
      assert.match(r.stdout, /^ {2}recall loss +- +not computed: interrupted$/m);
    }
  }
});

t('eval.js: a model trained on several --data files has them all as its training text (--train-data repeated gives the same); one of them gone: copying and seen tokens left out, naming it', () => {
  const ckpt = join(tmp, 'two-files');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 };
  saveGPT2Weights(ckpt, config, GPT2.initArrays(config, 7));
  const first = join(tmp, 'first.txt'), second = join(tmp, 'second.txt'), data = join(tmp, 'zorbat.txt');
  writeFileSync(first, 'Human: Hi there.\nBot: Hello, friend.\n');
  writeFileSync(second, 'Human: Who is Zorbat?\nBot: Zorbat is a friend of mine.\n'); // the recalled value's tokens: here only
  writeFileSync(data, 'Human: I am Zorbat.\nBot: Hi Zorbat.\nHuman: Who am I?\nBot: You are Zorbat. [recall: Zorbat]\n');
  writeFileSync(join(ckpt, 'train_state.json'), JSON.stringify({ step: 1, options: { data: [first, second] } }));
  const json = (more: string[]) => {
    const r = evalJs(['--init', ckpt, '--data', data, '--json', '--max-new-tokens', '2', ...more]);
    assert.is(r.code, 0, r.stderr);
    return { ...JSON.parse(r.stdout), stderr: r.stderr };
  };
  const both = json([]);
  assert.equal(both.settings.trainData, [first, second]);
  assert.ok(both.recallTokens > 0 && both.recallTokensSeen === both.recallTokens, `${both.recallTokensSeen} of ${both.recallTokens} value tokens seen`);
  assert.is(both.scores.copying.of, 2);
  const given = json(['--train-data', first, '--train-data', second]);
  assert.equal([given.settings.trainData, given.recallTokensSeen], [[first, second], both.recallTokens]);
  assert.equal([json(['--train-data', first]).recallTokensSeen], [0], 'the first file alone has none of them');
  rmSync(second);
  const gone = json([]);
  assert.equal([gone.settings.trainData, gone.scores.copying.of, gone.recallTokensSeen], [null, 0, 0]);
  assert.match(gone.stderr, /eval: no training text \(\S+second\.txt is not there\): copying and seen tokens are left out/);
});

t('eval.js: a model trained with --human User --bot Assistant is prompted so, its training text is the copying reference; none there: copying left out', () => {
  const ckpt = join(tmp, 'tagged');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 };
  saveGPT2Weights(ckpt, config, GPT2.initArrays(config, 7));
  const train = join(tmp, 'ua-train.txt'), data = join(tmp, 'ua-held-out.txt');
  writeFileSync(train, 'User: Hi there.\nAssistant: Hello, friend.\n\nUser: Bye.\nAssistant: See you.\n');
  writeFileSync(data, 'User: I am Zorbat.\nAssistant: Hi Zorbat.\nUser: Who am I?\nAssistant: You are Zorbat. [recall: Zorbat]\n');
  // what train.js --human User --bot Assistant --data TRAIN recorded before several --data files (one path)
  writeFileSync(join(ckpt, 'train_state.json'), JSON.stringify({ step: 1, options: { data: train, human: 'User', bot: 'Assistant' } }));
  const args = ['--init', ckpt, '--json', '--max-new-tokens', '2'];
  const r = evalJs([...args, '--data', data]);
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.settings.speakers, { human: 'User', bot: 'Assistant' });
  assert.equal(j.settings.trainData, [train], 'the run\'s own data, from train_state.json');
  assert.is(j.scores.copying.of, 2, 'copying is scored against it');
  assert.is(j.valTokens, encode(' Hi Zorbat.').length + encode(' You are Zorbat.').length + 2, 'the Assistant turns are the scored ones');
  // what eval.js says names the tags in use, not Human/Bot
  const table = evalJs(['--init', ckpt, '--max-new-tokens', '2', '--data', data]);
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout, /^ {2}val loss .* over \d+ Assistant tokens$/m);
  const questions = join(tmp, 'ua-questions.txt');
  writeFileSync(questions, 'User: Hi.\nUser: Anyone there?\n');
  for (const [more, re] of [
    [['--data', questions], /^error: --data \S+ua-questions\.txt: no turn tagged "Assistant:" answers one tagged "User:", so there is nothing to score$/],
    [['--data', ''], /^error: --data is empty: pass a chat text file with lines starting "User:"\/"Assistant:"$/],
    [['--data', data, '--train-data', 'TOKENS.BIN'], /^error: --train-data TOKENS\.BIN is a token file: pass the chat text file it was made from \(lines starting "User:"\/"Assistant:"\)$/],
  ] as [string[], RegExp][]) {
    const e = evalJs([...args, ...more]);
    assert.is(e.code, 1, e.stderr);
    assert.match(errorLines(e.stderr)[0], re);
  }
  // the shipped held-out set is written in Human/Bot: it still parses for this model; --bot overrides the saved tag
  const shipped = evalJs([...args, '--limit', '1', '--bot', 'Robot']);
  assert.is(shipped.code, 0, shipped.stderr);
  assert.equal(JSON.parse(shipped.stdout).settings.speakers, { human: 'User', bot: 'Robot' });
  // --human/--bot set the prompts' tags; the training text stays in the tags it was trained in
  const human = evalJs([...args, '--limit', '1', '--human', 'Human', '--bot', 'Bot']);
  assert.is(human.code, 0, human.stderr);
  const h = JSON.parse(human.stdout);
  assert.equal([h.settings.speakers, h.settings.trainData, h.scores.copying.of], [SP, [train], 6]);
  // without a train_state.json and away from the repository (no data/chat.txt): copying and seen tokens are left out, with a note
  rmSync(join(ckpt, 'train_state.json'));
  const away = evalJs([...args, '--data', join(ROOT, 'data/eval.txt'), '--limit', '1'], tmp);
  assert.is(away.code, 0, away.stderr);
  const k = JSON.parse(away.stdout);
  assert.equal(k.settings.speakers, SP);
  assert.is(k.settings.trainData, null);
  assert.equal([k.scores.copying.of, k.recallTokensSeen], [0, 0]);
  assert.match(away.stderr, /eval: no training text \(data\/chat\.txt is not there\): copying and seen tokens are left out/);
  // away from the repository, the shipped held-out set is not found: said so, with the way out
  const noData = evalJs(args, tmp);
  assert.is(noData.code, 1, noData.stderr);
  assert.is(errorLines(noData.stderr).length, 1, noData.stderr);
  assert.match(errorLines(noData.stderr)[0], /^error: the held-out set data\/eval\.txt is not in \/\S+: run eval\.js from the repository's directory, or pass --data FILE$/);
  // the same tag twice cannot make a conversation
  const same = evalJs([...args, '--data', data, '--human', 'Bot', '--bot', 'Bot']);
  assert.is(same.code, 1);
  assert.match(errorLines(same.stderr)[0], /^error: --human\/--bot: the human and bot tags are both 'Bot'/);
});

t('eval.js --adapter: the JSON settings and the table name the adapter, so its scores are not taken for its base\'s', () => {
  const base = join(tmp, 'adapter-base'), lora = join(tmp, 'adapter');
  const config = { ...GPT2_124M, n_layer: 1, n_head: 2, n_embd: 32, n_positions: 64 };
  saveGPT2Weights(base, config, GPT2.initArrays(config, 7));
  const settings = { r: 2, alpha: 4, dropout: 0, targets: ['c_attn'] };
  saveAdapter(lora, settings, checkLora(config, settings), base, initLoraArrays(checkLora(config, settings), settings.r, 3));
  const data = join(tmp, 'adapter-held-out.txt');
  writeFileSync(data, 'Human: I am Zorbat.\nBot: Hi Zorbat.\n');
  const args = ['--data', data, '--train-data', data, '--max-new-tokens', '2'];
  const withAdapter = evalJs([...args, '--init', base, '--adapter', lora, '--json']);
  assert.is(withAdapter.code, 0, withAdapter.stderr);
  assert.equal([JSON.parse(withAdapter.stdout).settings.init, JSON.parse(withAdapter.stdout).settings.adapter], [base, lora]);
  const named = evalJs([...args, '--adapter', lora, '--json']); // its base from adapter_config.json
  assert.equal([JSON.parse(named.stdout).settings.init, JSON.parse(named.stdout).settings.adapter], [base, lora], named.stderr);
  const alone = evalJs([...args, '--init', base, '--json']);
  assert.is(JSON.parse(alone.stdout).settings.adapter, null, alone.stderr);
  const table = evalJs([...args, '--init', base, '--adapter', lora]);
  assert.is(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^eval of ${base} \\+ LoRA adapter ${lora} on `));
});

t('eval.js: --help, and bad input as one line', () => {
  const h = evalJs(['--help']);
  assert.is(h.code, 0);
  for (const flag of ['--init', '--data', '--train-data', '--json', '--limit', '--temperature', '--max-new-tokens', '--seed']) assert.ok(h.stdout.includes(flag), flag);
  // the penalties' window counts the file's Bot turns here, not the model's own output as in chat.js
  assert.match(h.stdout, /--penalty-window N +how many recent tokens of the conversation's Bot turns as the file writes them/);
  assert.not.match(h.stdout, /model's own output/);
  const bad = join(tmp, 'misplaced.txt');
  writeFileSync(bad, 'Human: hi [unknown]\nBot: hello\n');
  const utf16 = join(tmp, 'utf16.txt');
  writeFileSync(utf16, Buffer.from('\ufeffHuman: hi\nBot: hello\n', 'utf16le'));
  // past V8's longest string: refused before reading, as train.js refuses it (a sparse file: no disk used)
  const huge = join(tmp, 'huge.txt');
  writeFileSync(huge, 'Human: hi\nBot: hello\n');
  truncateSync(huge, 513 * 2 ** 20);
  for (const [args, re] of [
    [['--data', join(tmp, 'nope.txt')], /^error: --data .*nope\.txt: no such file/],
    [['--data', ''], /^error: --data is empty: pass a chat text file with lines starting "Human:"\/"Bot:"$/],
    [['--train-data', 'tokens.bin'], /^error: --train-data tokens\.bin is a token file: pass the chat text file it was made from \(lines starting "Human:"\/"Bot:"\)$/],
    [['--train-data', 'TOKENS.BIN'], /^error: --train-data TOKENS\.BIN is a token file: pass the chat text file it was made from \(lines starting "Human:"\/"Bot:"\)$/],
    [['--data', utf16], /^error: .*utf16\.txt: the file is UTF-16, not UTF-8: save it as UTF-8$/],
    [['--train-data', huge], /^error: --train-data file .*huge\.txt is 513 MiB: a chat text file can be at most 512 MiB \(it is read whole\); pass a part of it$/],
    [['--data', bad], /^error: .*misplaced\.txt: conversation 1, turn 1 .*belongs at the end of a reply: the Bot line/],
    [['--limit', '0'], /^error: --limit must be at least 1/],
    [['out/chat'], /^error: unexpected argument 'out\/chat': a model goes after --init, held-out conversations after --data \(see --help\)$/],
    [['--temperature', '-1'], /^error: --temperature: temperature must be >= 0/],
  ] as [string[], RegExp][]) {
    const r = evalJs(args);
    assert.is(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    const lines = errorLines(r.stderr);
    assert.is(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], re);
  }
  rmSync(huge);
});

t.after(() => rmSync(tmp, { recursive: true, force: true }));
t.run();
