/** `n` and the noun, plural unless n is 1: "1 step", "3 steps" */
export const count = (n: number, noun: string, nouns = `${noun}s`) => `${n} ${n === 1 ? noun : nouns}`;

/** `w` as one word of a shell's command line: as it is when safe, else single-quoted (also a leading '=': zsh expands =cmd) */
export const shellWord = (w: string) => (/^[\w@%+:,./-][\w@%+=:,./-]*$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`);

/** A byte count in megabytes (10^6), one decimal under 10 MB: "4.2 MB", "154 MB" */
export const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
/** the same in gigabytes (10^9): "2.4 GB", "69 GB" */
export const gigabytes = (bytes: number) => `${(bytes / 1e9).toFixed(bytes < 1e10 ? 1 : 0)} GB`;

/**
 * `s` as a sentence: a capital on its first word and a full stop at its end. A message that
 * starts with a URL, a path or a flag ('model/config.json: 404', '--init ...') keeps it as written.
 */
export const asSentence = (s: string) => `${/^[a-z]+(?=[\s,;])/.test(s) ? s[0].toUpperCase() + s.slice(1) : s}${/[.!?]['"\u2019)]*$/.test(s) ? '' : '.'}`;
