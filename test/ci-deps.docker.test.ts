/**
 * .ci/run's first step on a machine that never ran it: scripts/install-test-deps.sh in a clean Debian 12 root
 * (the debootstrap base image, no trixie source, nothing installed by an earlier run). The Docker engine part is
 * left out (--no-docker: a container cannot run dockerd); every Debian package the tests drive must install,
 * python3-moto among them (trixie only), and libc must stay bookworm's (trixie is pinned at 100).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureBaseImage, baseImageTag } from './fixture.ts';
import { needDocker, repoRoot, testIf } from './helpers.ts';

const withDocker = testIf(test, [needDocker]);

withDocker(
  'install-test-deps.sh --no-docker installs every test tool in a clean Debian 12 root, libc stays 2.36',
  async () => {
    await ensureBaseImage('debian12');
    const script = `
    set -e
    test ! -e /etc/apt/sources.list.d/trixie.sources
    bash /repo/scripts/install-test-deps.sh --no-docker
    for c in moto_server patchelf shellcheck gpg debootstrap file gcc; do command -v "$c" >/dev/null || { echo "missing $c"; exit 9; }; done
    python3 -c 'import flask_cors, moto' || exit 9
    echo "libc=$(dpkg-query -W -f='\${Version}' libc6)"
    echo "trixie-pin=$(cat /etc/apt/preferences.d/trixie-pin | tr '\\n' ' ')"
    bash /repo/scripts/install-test-deps.sh --no-docker 2>&1 | sed 's/^/second: /'
    rc=0; bash /repo/scripts/install-test-deps.sh --bogus || rc=$?; echo "bogus=$rc"
  `;
    const r = spawnSync(
      'docker',
      [
        'run',
        '--rm',
        '-v',
        `${join(repoRoot, 'scripts')}:/repo/scripts:ro`,
        baseImageTag('debian12'),
        'bash',
        '-c',
        script,
      ],
      { encoding: 'utf8', timeout: 900_000 },
    );
    assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^libc=2\.36-/m);
    assert.match(r.stdout, /Pin: release n=trixie Pin-Priority: 100/);
    assert.match(r.stderr, /added Debian trixie \(pinned at priority 100\)/);
    // Idempotent: the second run finds nothing missing and says nothing.
    assert.not.match(r.stdout, /^second: /m);
    assert.match(r.stdout, /^bogus=2$/m);
  },
);

test.run();
