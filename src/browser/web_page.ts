// A static host may answer a path it does not have with its own page (200, text/html: single-page
// app hosting, Cloudflare Pages without a 404.html) instead of a 404. No model file, adapter file or
// API answer is HTML, so such an answer means the thing asked for is not there.

/** an HTML page (Content-Type text/html) */
export const isWebPage = (res: Response) => /^\s*text\/html/i.test(res.headers.get('content-type') ?? '');
