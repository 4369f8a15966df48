/**
 * Each cause diagnose() knows, made to happen for real on BuildKit (Docker engine, buildx), and the one line
 * the user gets for it. Small Dockerfiles go through runBuildx (what build, bake and build-compiler run); the
 * project's own Dockerfile goes through the CLI. Registries and GitHub are unreachable here, which is what the
 * base-image and git-input cases need; a registry that answers "not found" or "denied" is a local HTTP server
 * speaking the registry API. Spack cannot run here (no GitHub, no PyPI): its checksum and fetch failures are
 * printed by a RUN in the words of Spack's source (lib/spack/spack/fetch_strategy.py, installer.py).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { lookup } from 'node:dns/promises';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBuildx } from '../tasks/lib/build-run.ts';
import { BuildError } from '../tasks/lib/errors.ts';
import { needDocker, runCli, tempDir, testIf, type Requirement } from './helpers.ts';

const t = tempDir('sf-diagnose-');
const env = { SLURM_FACTORY_HOME: join(t.path, 'home') };
let baseImage = '';
const probe = () => `probe-${process.pid}-${Date.now()}`;
/** With two stages BuildKit names the stage of each step (`[deps 1/1] RUN`); the steps below go in `deps`. */
let twoStages = '';

let githubReachable = false;
const needGithubUnreachable: Requirement = () =>
  githubReachable ? 'github.com resolves here, so the default git inputs would be fetched, not fail' : null;
const needRoot: Requirement = () => (process.getuid?.() === 0 ? null : 'mounting a small tmpfs needs root');

const dockerTest = testIf(test, [needDocker]);

test.before(async () => {
  try {
    await lookup('github.com');
    githubReachable = true;
  } catch {
    githubReachable = false;
  }
  if (needDocker()) return;
  baseImage = await (await import('./fixture.ts')).ensureBaseImage('debian12');
  twoStages = `FROM ${baseImage} AS base\nFROM base AS deps`;
});
test.after(() => t.cleanup());

/** The CLI's closing `error: ...` line. */
const errorLine = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('error: '))
    .pop() ?? '';

/** Runs `fn` with a 1 MiB tmpfs mounted at `dir` (made here), unmounted afterwards. */
async function withTinyTmpfs(dir: string, fn: () => unknown): Promise<void> {
  mkdirSync(dir);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
  assert.is(m.status, 0, `mount: ${m.stderr}`);
  try {
    await fn();
  } finally {
    spawnSync('umount', [dir]);
  }
}

/** Builds `dockerfile` (from a fresh directory) with runBuildx; returns the BuildError it must throw. */
async function failingBuild(name: string, dockerfile: string, extra: string[] = []): Promise<BuildError> {
  const dir = join(t.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  try {
    await runBuildx(['buildx', 'build', '--progress', 'plain', ...extra, dir], join(t.path, 'logs', `${name}.log`), {
      echo: false,
    });
  } catch (e) {
    if (e instanceof BuildError) return e;
    throw e;
  }
  throw new Error(`the ${name} build succeeded`);
}

/** The project's Dockerfile rendered to a directory of its own, with `edit` applied. */
function editedDockerfile(name: string, edit: (text: string) => string): string {
  const ctx = join(t.path, name);
  const r = runCli(
    ['render', '24.11', '--gcc', 'system', '--os', 'debian12', '--base-image', baseImage, '--out', ctx],
    { env },
  );
  assert.is(r.status, 0, r.stderr);
  const df = join(ctx, 'Dockerfile');
  const text = readFileSync(df, 'utf8');
  const edited = edit(text);
  assert.is.not(edited, text, 'the edit applied');
  writeFileSync(df, edited);
  return df;
}

/** A registry that answers every manifest request with `status` (404: no such image, 401: denied). */
async function registry(status: 404 | 401): Promise<{ host: string; server: Server }> {
  const server = createServer((req, res) => {
    const port = (server.address() as { port: number }).port;
    if (req.url?.startsWith('/token')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"token":"anonymous"}');
      return;
    }
    if (status === 404 && (req.url === '/v2/' || req.url === '/v2')) {
      res.writeHead(200, { 'Docker-Distribution-API-Version': 'registry/2.0' });
      res.end('{}');
      return;
    }
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Docker-Distribution-API-Version': 'registry/2.0',
    };
    if (status === 401)
      headers['WWW-Authenticate'] =
        `Bearer realm="http://127.0.0.1:${port}/token",service="registry",scope="repository:nonexistent:pull",error="insufficient_scope"`;
    res.writeHead(status, headers);
    res.end(
      JSON.stringify({
        errors: [{ code: status === 404 ? 'MANIFEST_UNKNOWN' : 'UNAUTHORIZED', message: 'no', detail: {} }],
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: `127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

dockerTest('a base image that does not exist: the line names the image and --base-image / make-base-image.sh', () => {
  const r = runCli(
    ['build', '24.11', '--gcc', 'system', '--os', 'debian12', '--base-image', 'nonexistent:latest', '--target', 'base'],
    { env },
  );
  assert.is(r.status, 1, r.stderr.slice(-2000));
  const line = errorLine(r.stderr);
  assert.match(
    line,
    /^error: build failed in stage 'base' \(docker exit 1\): image 'nonexistent:latest' is not in the local image store and cannot be pulled: /,
    line,
  );
  assert.match(
    line,
    githubReachable
      ? /cannot be pulled: the registry denies it/
      : /cannot be pulled: its registry is unreachable \(.*registry-1\.docker\.io/,
    line,
  );
  assert.match(
    line,
    /--base-image IMAGE .*scripts\/make-base-image\.sh debian12.*; full log: \S+\/logs\/slurm-24\.11-gcc12\.2\.0-\S+\.log$/,
    line,
  );
});

dockerTest('a registry that has no such image, one that denies it, and one that refuses connections', async () => {
  for (const status of [404, 401] as const) {
    const { host, server } = await registry(status);
    try {
      const e = await failingBuild(`registry-${status}`, `FROM ${host}/nonexistent:latest AS base\nRUN true\n`);
      assert.is(e.context.diagnosis, 'base-image');
      assert.is(e.context.stage, 'base');
      assert.match(
        e.message,
        status === 404
          ? /cannot be pulled: the registry has no such image$/
          : /cannot be pulled: the registry denies it: no such repository, or it needs a login$/,
        e.message,
      );
    } finally {
      server.close();
    }
  }
  const refused = await failingBuild('registry-refused', 'FROM 127.0.0.1:1/nonexistent:latest\nRUN true\n');
  assert.match(
    refused.message,
    /image '127\.0\.0\.1:1\/nonexistent:latest' .* its registry is unreachable \(dial tcp 127\.0\.0\.1:1: connect: connection refused\)$/,
    refused.message,
  );
});

testIf(test, [needDocker, needGithubUnreachable])(
  'the default Spack git inputs, GitHub unreachable: the line names both stages and the --context fix',
  () => {
    const r = runCli(
      ['build', '24.11', '--gcc', 'system', '--os', 'debian12', '--base-image', baseImage, '--target', 'spack'],
      { env },
    );
    assert.is(r.status, 1, r.stderr.slice(-2000));
    const line = errorLine(r.stderr);
    // BuildKit fetches both inputs at once; both usually fail before either cancels the other.
    const m =
      /^error: build failed in stage 'spack(?:-packages)?-src' \(docker exit 1\): input stages? (spack-src, spack-packages-src|spack-src|spack-packages-src) could not clone from (?:github\.com|https:\/\/github\.com\/spack\/spack(?:-packages)?\.git) \(Could not resolve host: github\.com\); give local checkouts at the pinned commits: (.*); full log: \S+\.log$/.exec(
        line,
      );
    assert.ok(m, line);
    assert.is(
      m[2],
      m[1]!
        .split(', ')
        .map((n) => `--context ${n}=DIR`)
        .join(' '),
      'one --context per unreachable input',
    );
  },
);

dockerTest('bake gives the same one line: a matrix on a base image that does not exist', () => {
  const r = runCli(
    [
      'bake',
      '--slurm',
      '24.11',
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      'nonexistent:latest',
      '--file',
      join(t.path, 'bake', 'docker-bake.hcl'),
      '--set',
      '*.target=base',
      '--set',
      '*.output=type=cacheonly',
    ],
    { env },
  );
  assert.is(r.status, 1, r.stderr.slice(-2000));
  const line = errorLine(r.stderr);
  assert.match(
    line,
    /^error: build failed in stage 'base' \(docker exit 1\): image 'nonexistent:latest' is not in the local image store .*--base-image IMAGE .*; full log: \S+\/logs\/bake-\S+\.log$/,
    line,
  );
});

testIf(test, [needDocker, needGithubUnreachable])(
  'build-compiler gives the same one line: GitHub unreachable for the Spack inputs',
  () => {
    const r = runCli(['build-compiler', '13.4.0', '--os', 'debian12', '--base-image', baseImage], { env });
    assert.is(r.status, 1, r.stderr.slice(-2000));
    const line = errorLine(r.stderr);
    assert.match(
      line,
      /^error: build failed in stage '\S+' \(docker exit 1\): input stages? .*could not clone .*Could not resolve host: github\.com.*--context spack(-packages)?-src=DIR.*; full log: \S+\/logs\/compiler-13\.4\.0-\S+\.log$/,
      line,
    );
  },
);

dockerTest('a named context that points at a missing directory', () => {
  const missing = join(t.path, 'no-such-spack');
  const r = runCli(
    [
      'build',
      '24.11',
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      baseImage,
      '--target',
      'spack',
      '--context',
      `spack-src=${missing}`,
    ],
    { env },
  );
  assert.is(r.status, 1, r.stderr.slice(-2000));
  assert.match(
    r.stderr,
    new RegExp(
      `error: build failed \\(docker exit 1\\): named context 'spack-src' is directory '${missing}', which does not exist; give an existing directory \\(--context spack-src=DIR\\)`,
    ),
    r.stderr.slice(-1500),
  );
});

dockerTest('a Spack checksum mismatch and a Spack fetch failure (in the words of Spack 1.0)', async () => {
  const stage = 'spack-stage-munge-0.5.15-abcdefghijklmnopqrstuvwxyz012345';
  const want = 'a'.repeat(64);
  const checksum = await failingBuild(
    'spack-checksum',
    `${twoStages}
RUN echo ${probe()} && mkdir -p /tmp/s/${stage} && cd /tmp/s/${stage} && printf '<html>proxy</html>' > munge-0.5.15.tar.xz \\
 && if ! echo "${want}  munge-0.5.15.tar.xz" | sha256sum -c --status; then \\
      echo "==> Error: Failed to install munge due to ChecksumError: sha256 checksum failed for $PWD/munge-0.5.15.tar.xz"; \\
      echo "    Expected ${want} but got $(sha256sum munge-0.5.15.tar.xz | cut -d' ' -f1). File size = 18 bytes. Contents = b'<html>proxy</html>'. URL = https://github.com/dun/munge/releases/download/munge-0.5.15/munge-0.5.15.tar.xz"; \\
      exit 1; fi
`,
  );
  assert.is(checksum.context.diagnosis, 'spack-checksum');
  assert.match(
    checksum.message,
    /^build failed in stage 'deps' \(docker exit 1\): the source of munge@0\.5\.15 does not match its recipe's sha256 checksum \(expected aaaaaaaaaaaa\.\.\., got [0-9a-f]{12}\.\.\.\)/,
    checksum.message,
  );
  assert.match(
    checksum.oneLine(),
    /--context source-mirror=DIR.*; full log: \S+spack-checksum\.log$/,
    checksum.oneLine(),
  );

  const fetch = await failingBuild(
    'spack-fetch',
    `${twoStages}
RUN echo ${probe()} && if ! (exec 3<>/dev/tcp/github.invalid/443) 2>/dev/null; then \\
      echo "==> Error: Failed to install munge due to FetchError: All fetchers failed for ${stage}"; \\
      echo "==> Error: Terminating after first install failure: All fetchers failed for ${stage}"; exit 1; fi
`,
  );
  assert.is(fetch.context.diagnosis, 'spack-fetch');
  assert.match(fetch.message, /: Spack could not download the source of munge@0\.5\.15/, fetch.message);
});

dockerTest('a step killed by SIGKILL, as the out-of-memory killer does: exit code 137', async () => {
  const e = await failingBuild('sigkill', `${twoStages}\nRUN echo ${probe()} && sh -c 'kill -9 $$'\n`);
  assert.is(e.context.diagnosis, 'out-of-memory');
  assert.is(e.context.stage, 'deps', e.oneLine());
  assert.match(
    e.oneLine(),
    /^build failed in stage 'deps' \(docker exit 1\): a build step was killed by SIGKILL \(exit code 137\), as the kernel's out-of-memory killer does; run fewer compile jobs at once \(--jobs 2, say\)/,
    e.oneLine(),
  );
});

dockerTest("the compiler killed by SIGKILL in the project's base stage: GCC's own words, through the CLI", () => {
  const df = editedDockerfile('gcc-killed', (s) =>
    s.replace(
      /^FROM scratch AS spack-src$/m,
      // SIGKILL to the real cc1 as soon as it runs, as the OOM killer picks the biggest process: a compiler.
      `RUN echo ${probe()} && seq 1 30000 | sed 's/.*/int f&(int x){return x*&+1;}/' > /tmp/x.c \\
 && { gcc -O2 -c /tmp/x.c -o /tmp/x.o & until pkill -KILL -x cc1; do sleep 0.05; done; wait $!; }\n\nFROM scratch AS spack-src`,
    ),
  );
  const r = runCli(
    [
      'build',
      '24.11',
      '--gcc',
      'system',
      '--os',
      'debian12',
      '--base-image',
      baseImage,
      '--dockerfile',
      df,
      '--target',
      'base',
    ],
    { env },
  );
  assert.is(r.status, 1, r.stderr.slice(-2000));
  assert.match(r.stderr, /Killed signal terminated program cc1/, 'GCC says so');
  assert.match(
    r.stderr,
    /error: build failed in stage 'base' \(docker exit 1\): the compiler's cc1 was killed \(SIGKILL\), as the kernel's out-of-memory killer does; run fewer compile jobs .*; full log: /,
    r.stderr.slice(-1500),
  );
});

dockerTest('a full disk inside a step: No space left on device', async () => {
  const e = await failingBuild(
    'enospc-step',
    `${twoStages}\nRUN --mount=type=tmpfs,target=/t,size=1m echo ${probe()} && head -c 2097152 /dev/zero > /t/big\n`,
  );
  assert.is(e.context.diagnosis, 'disk-full');
  assert.match(
    e.oneLine(),
    /: a disk filled up \(head: error writing 'standard output': No space left on device\); free space: 'npx zx Taskfile\.ts clean builds logs --dry-run'/,
    e.oneLine(),
  );
});

testIf(test, [needDocker, needRoot])(
  'an export onto a full 1 MiB tmpfs: buildx says only EOF, the free space says why',
  async () => {
    const mnt = join(t.path, 'tiny');
    await withTinyTmpfs(mnt, async () => {
      const dest = join(mnt, 'out');
      const e = await failingBuild(
        'enospc-export',
        `FROM ${baseImage} AS big
RUN echo ${probe()} && mkdir /out && head -c 4194304 /dev/urandom > /out/big.bin
FROM scratch AS export
COPY --from=big /out/ /
`,
        ['--output', `type=local,dest=${dest}`],
      );
      const log = readFileSync(e.context.logPath as string, 'utf8');
      assert.not.match(log, /no space left/i, 'BuildKit does not say it');
      assert.is(e.context.diagnosis, 'disk-full');
      assert.match(
        e.oneLine(),
        new RegExp(
          `: the export to ${dest} stopped with its disk full \\(0 KiB free\\); free space: .*SLURM_FACTORY_HOME at a bigger disk; full log: `,
        ),
        e.oneLine(),
      );
    });
  },
);

testIf(test, [needDocker, needRoot])(
  'a log on a full disk: the build still ends with its own diagnosis, and says the log is incomplete',
  async () => {
    const home = join(t.path, 'full-home');
    await withTinyTmpfs(home, () => {
      mkdirSync(join(home, 'logs'));
      spawnSync('bash', ['-c', `head -c 2097152 /dev/zero > ${join(home, 'fill')}`]);
      const r = runCli(
        [
          'build',
          '24.11',
          '--gcc',
          'system',
          '--os',
          'debian12',
          '--base-image',
          'nonexistent:latest',
          '--target',
          'base',
        ],
        { env: { SLURM_FACTORY_HOME: home } },
      );
      assert.is(r.status, 1, r.stderr.slice(-1500));
      assert.not.match(r.stderr, /Unhandled 'error' event|node:events/, 'no crash');
      const line = errorLine(r.stderr);
      assert.match(
        line,
        /: image 'nonexistent:latest' is not in the local image store .*; full log: \S+\.log \(incomplete: ENOSPC: no space left on device, write\)$/,
        line,
      );
    });
  },
);

dockerTest("the log's first line is the command, quoted so a shell runs exactly it", async () => {
  const e = await failingBuild("quoted it's", `FROM ${baseImage}\nRUN echo ${probe()} && false\n`, [
    '--build-arg',
    `X=a b 'c' $HOME`,
  ]);
  assert.is(e.context.diagnosis, undefined, 'a plain failure has no diagnosis');
  const first = readFileSync(e.context.logPath as string, 'utf8').split('\n')[0]!;
  assert.ok(first.startsWith('$ docker '), first);
  const words = spawnSync('bash', ['-c', `printf '%s\\n' ${first.slice('$ docker '.length)}`], { encoding: 'utf8' })
    .stdout.split('\n')
    .slice(0, -1);
  assert.equal(words, [
    'buildx',
    'build',
    '--progress',
    'plain',
    '--build-arg',
    `X=a b 'c' $HOME`,
    join(t.path, "quoted it's"),
  ]);
});

test.run();
