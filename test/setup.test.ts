// scripts/setup.sh adds bookworm-backports (for Mesa >= 24) on the mirror the machine already
// uses: its `backports_source` function, run here on sample apt source files (never the real ones).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const t = suite('setup');
const dir = mkdtempSync(join(tmpdir(), 'gpt2-apt-'));

/** backports_source bookworm FILES..., each file given as [name, content] */
function backportsSource(files: [string, string][]): string {
  const paths = files.map(([name, text]) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  });
  return execFileSync('bash', ['-c', 'source scripts/setup.sh && backports_source bookworm "$@"', 'setup.sh', ...paths], { encoding: 'utf8' });
}

// as Debian 12's images ship it (this machine's /etc/apt/sources.list.d/debian.sources)
const DEBIAN_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

t('deb822 .sources: the bookworm stanza, with its mirror and options, for bookworm-backports main', () => {
  assert.is(backportsSource([['debian.sources', DEBIAN_SOURCES]]), `Types: deb
URIs: http://mirror.example.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`);
});

t('deb822: disabled, deb-src-only and other-suite stanzas are passed over; an inline key and a last stanza without a blank line are kept', () => {
  const key = 'Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBGPL\n -----END PGP PUBLIC KEY BLOCK-----';
  const text = `Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

types: deb deb-src
uris: http://apt-cacher.local:3142/deb.debian.org/debian
suites: trixie
components: main

Types: deb deb-src
URIs: http://apt-cacher.local:3142/deb.debian.org/debian
Suites: bookworm
Components: main non-free-firmware
${key}`;
  assert.is(backportsSource([['proxy.sources', text]]), `Types: deb deb-src
URIs: http://apt-cacher.local:3142/deb.debian.org/debian
Suites: bookworm-backports
Components: main
${key}
`);
});

t('one-line sources.list: the first enabled deb line of bookworm, options kept', () => {
  const text = `# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main
  deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] https://mirror.example.net/debian/ bookworm main contrib non-free
deb http://second.example/debian bookworm main
`;
  assert.is(backportsSource([['sources.list', text]]),
    'deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] https://mirror.example.net/debian/ bookworm-backports main\n');
  assert.is(backportsSource([['plain.list', 'deb http://ftp.de.debian.org/debian bookworm main\n']]), 'deb http://ftp.de.debian.org/debian bookworm-backports main\n');
});

t('files in apt order: the first with a bookworm source wins; none found prints nothing', () => {
  const other = 'deb https://deb.nodesource.com/node_20.x nodistro main\n';
  assert.is(backportsSource([['sources.list', ''], ['nodesource.list', other], ['debian.sources', DEBIAN_SOURCES], ['later.list', 'deb http://later.example/debian bookworm main\n']]),
    backportsSource([['debian.sources', DEBIAN_SOURCES]]));
  assert.is(backportsSource([['nodesource.list', other], ['missing.list', '']]), '');
  assert.is(execFileSync('bash', ['-c', 'source scripts/setup.sh && backports_source bookworm /nonexistent/x.list'], { encoding: 'utf8' }), '');
});

t.run();
