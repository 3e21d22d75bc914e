// The recall match (README "Evaluate", data/README.md "Marking"): does a reply contain a
// [recall: VALUE]? Both are read as words, in any language:
//
//   - NFKC first: full-width ＡＢＣ１２３ is ABC123, ﬁ is fi, a decomposed é is é; then case is ignored (ß in capitals is SS)
//   - punctuation and spaces separate words and are otherwise ignored ("St. Louis" = "St Louis")
//   - a letter or digit run of a spaced script is a word, its combining marks with it (Hindi रामू is not राम)
//   - in scripts written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) each
//     character, with its marks, is a word: a value is found inside a longer run (小花 in 你的猫叫小花)
//   - each emoji or other symbol is a word (🐶, C++, $5): a value of them is matched, not erased
//   - Korean attaches particles and counters to the word before them: a value followed
//     directly by Hangul still counts (서울 in 서울에서, 3 in 3마리)
//
// valueSpan finds a value as written (case aside) in the reference reply with the same word
// boundaries, for the recall loss, which scores its tokens.

/** Chinese and Japanese, by Script_Extensions (which gives katakana's long-vowel mark ー to Katakana): one character a word here and in score.ts's words */
export const CJK_SCRIPTS = '\\p{scx=Han}\\p{scx=Hiragana}\\p{scx=Katakana}';
/** scripts written without spaces between words */
const UNSPACED_SCRIPTS = `${CJK_SCRIPTS}\\p{scx=Thai}\\p{scx=Lao}\\p{scx=Khmer}\\p{scx=Myanmar}`;
/** a letter or digit of those scripts, with its combining marks */
const UNSPACED = `(?=[\\p{L}\\p{N}])[${UNSPACED_SCRIPTS}]\\p{M}*`;
/** a letter or digit of a spaced script (without its marks) */
const SPACED_CHAR = `(?![${UNSPACED_SCRIPTS}])[\\p{L}\\p{N}]`;
/** an emoji or other symbol, with its marks and anything joined to it by a zero-width joiner (👩‍💻) */
const SYMBOL = '[\\p{S}\\p{Extended_Pictographic}]\\p{M}*(?:\\u200d[\\p{S}\\p{Extended_Pictographic}]\\p{M}*)*';
const WORD = new RegExp(`${UNSPACED}|${SYMBOL}|(?:${SPACED_CHAR}\\p{M}*)+`, 'gu');
/** a Hangul letter: what may follow a value directly (a Korean particle or counter) */
const HANGUL = '(?=\\p{L})\\p{scx=Hangul}';
const startsHangul = new RegExp(`^${HANGUL}`, 'u');
const startsSpaced = new RegExp(`^${SPACED_CHAR}`, 'u'), endsSpaced = new RegExp(`${SPACED_CHAR}\\p{M}*$`, 'u');

/**
 * `text` as the match reads it: NFKC, case folded, emoji variation selectors dropped (❤️ is ❤).
 * A symbol NFKC turns into letters (™ to TM, ℃ to °C) stays a word apart, as it was: Acme™ holds Acme.
 */
function fold(text: string): string {
  return text
    .replace(/\p{S}/gu, (c) => (c.normalize('NFKC') === c ? c : ` ${c.normalize('NFKC')} `))
    .normalize('NFKC')
    // upper then lower: full case folding, so German capitals' SS is ß (STRASSE = Straße), which toLowerCase alone keeps apart
    .toUpperCase()
    .toLowerCase()
    .normalize('NFC')
    .replace(/[\ufe0e\ufe0f]/g, '');
}

/** the words the match compares (see the top of this file); none for a value of punctuation alone */
export function matchWords(text: string): string[] {
  return fold(text).match(WORD) ?? [];
}

/** does `reply` contain one of `values`, word for word (see the top of this file)? */
export function containsValue(reply: string, values: string[]): boolean {
  const r = matchWords(reply);
  return values.some((value) => {
    const v = matchWords(value), last = v.length - 1;
    if (!v.length) return false;
    for (let i = 0; i + last < r.length; i++) {
      let k = 0;
      while (k < last && r[i + k] === v[k]) k++;
      const w = r[i + last];
      // the last word, or the last word and a Korean particle after it
      if (k === last && (w === v[last] || (w.startsWith(v[last]) && startsHangul.test(w.slice(v[last].length))))) return true;
    }
    return false;
  });
}

/** a value no reply can contain: punctuation alone ("...", "#"), which the match ignores */
export const matchesNothing = (value: string) => matchWords(value).length === 0;

/**
 * [start, end) UTF-8 byte offsets in `text` of the first of `values` that it holds as written
 * (case ignored), on the match's word boundaries, or null: where a reference reply says the
 * value, for the recall loss.
 */
export function valueSpan(text: string, values: string[]): [number, number] | null {
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  for (const v of values) {
    // a spaced-script word is not part of a longer one (a Korean particle may follow it); nothing parts a letter
    // from its marks, or an emoji from what is joined to it (an emoji variation selector may follow)
    const before = startsSpaced.test(v) ? `(?<!${SPACED_CHAR}\\p{M}*)` : '';
    const after = `(?!(?![\\ufe0e\\ufe0f])\\p{M}|\\u200d${endsSpaced.test(v) ? `|(?!${HANGUL})${SPACED_CHAR}` : ''})`;
    const m = new RegExp(`${before}${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${after}`, 'iu').exec(text);
    if (m) return [bytes(text.slice(0, m.index)), bytes(text.slice(0, m.index + m[0].length))];
  }
  return null;
}
