/** `n` and the noun, plural unless n is 1: "1 step", "3 steps" */
export const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
