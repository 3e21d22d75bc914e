// The page's small DOM helpers: an element by id, and the radio groups and tab lists (the engine
// choice, the side tabs) as assistive technology and the keyboard expect them.

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** one of a radio group or tab list: marked chosen for assistive technology, and the one Tab stops at (arrow keys move within the group) */
export function markChosen(b: HTMLButtonElement, attr: 'aria-checked' | 'aria-selected', on: boolean): void {
  b.setAttribute(attr, String(on));
  b.tabIndex = on ? 0 : -1;
}

/** arrow keys (and Home, End) move to the next button of the group and choose it, as in a radio group or tab list */
export function arrowKeys(group: HTMLElement): void {
  group.addEventListener('keydown', (ev) => {
    const buttons = [...group.querySelectorAll<HTMLButtonElement>('button:not(:disabled)')];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step: Record<string, number> = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    const to = ev.key === 'Home' ? 0 : ev.key === 'End' ? buttons.length - 1 : ev.key in step && i >= 0 ? (i + step[ev.key] + buttons.length) % buttons.length : -1;
    if (to < 0 || !buttons.length) return;
    ev.preventDefault();
    buttons[to].focus();
    buttons[to].click();
  });
}
