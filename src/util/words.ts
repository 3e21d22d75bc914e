/** `n` and the noun, plural unless n is 1: "1 step", "3 steps" */
export const count = (n: number, noun: string, nouns = `${noun}s`) => `${n} ${n === 1 ? noun : nouns}`;
