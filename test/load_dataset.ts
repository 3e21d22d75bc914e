// One data file read whole into one dataset, no validation part held out: what the tests
// compare loadChatData's parts with, and the file errors train.js's data loading says.
import { checkDataFile, loadTokenBin, readChatText, type LoadOptions } from '../src/node/dataset.ts';
import { isTokenFile } from '../src/data/token_bin.ts';
import { packConversations, parseChatText, type TokenDataset } from '../src/data/windows.ts';

/** a text or .bin file; errors: missing file (message names the path and says what to pass), empty file, no Human/Bot lines */
export function loadDataset(path: string, opts: LoadOptions): TokenDataset {
  if (isTokenFile(path)) {
    checkDataFile(path);
    return loadTokenBin(path, opts.blockSize);
  }
  return packConversations(parseChatText(readChatText(path), opts.speakers, path, opts).conversations, opts.speakers, opts.blockSize, opts.mask);
}
