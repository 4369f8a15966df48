import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needDocker, runCli, withTempDir, testIf } from './helpers.ts';

test('clean: --dry-run lists sizes and removes nothing; --yes removes only what was named', () => {
  withTempDir((t) => {
    const home = join(t, 'home');
    for (const d of ['logs', 'builds', 'buildcache']) {
      mkdirSync(join(home, d), { recursive: true });
      writeFileSync(join(home, d, 'x'), 'x'.repeat(2048));
    }
    const env = { SLURM_FACTORY_HOME: home };
    const dry = runCli(['clean', 'logs', 'builds', '--dry-run'], { env });
    assert.is(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /would remove \S+\/home\/logs \(0\.0 MiB\)/);
    assert.equal(readdirSync(home).sort(), ['buildcache', 'builds', 'logs']);
    const noTty = runCli(['clean', 'logs'], { env });
    assert.is(noTty.status, 2);
    assert.match(noTty.stderr, /clean needs confirmation; pass --yes/);
    const yes = runCli(['clean', 'logs', 'builds', '--yes'], { env });
    assert.is(yes.status, 0, yes.stderr);
    assert.equal(readdirSync(home), ['buildcache']);
    const all = runCli(['clean', 'all', '--yes'], { env });
    assert.is(all.status, 0);
    assert.equal(readdirSync(home), []);
  });
});

test('doctor reports a missing engine with the fix and exits 1', () => {
  withTempDir((t) => {
    const r = runCli(['doctor'], {
      env: {
        SLURM_FACTORY_HOME: join(t, 'home'),
        DOCKER_HOST: `unix://${t}/none.sock`,
        SLURM_FACTORY_BUCKET: 'site-cache',
      },
    });
    assert.is(r.status, 1);
    assert.match(r.stdout, /^SLURM_FACTORY_HOME = \S+\/home \(environment\)$/m);
    assert.match(r.stdout, /^SLURM_FACTORY_BUCKET = site-cache \(publish's default bucket\)$/m);
    assert.match(r.stdout, /^FAIL {2}docker engine +not reachable$/m);
    assert.match(r.stdout, /^fix: the Docker engine does not answer: start dockerd/m);
    for (const d of ['buildcache', 'sourcecache', 'builds', 'compilers', 'logs'])
      assert.ok(existsSync(join(t, 'home', d)), `${d}/ created`);
  });
});

testIf(test, [needDocker])('doctor on a real engine: buildx, a named context replacing a stage, cache dirs', () => {
  withTempDir((t) => {
    const r = runCli(['doctor'], { env: { SLURM_FACTORY_HOME: join(t, 'home') } });
    assert.match(r.stdout, /^ok {4}docker engine +\S+/m);
    assert.match(r.stdout, /^ok {4}buildx +\S+/m);
    assert.match(r.stdout, /^ok {4}named build contexts +a named context replaced a stage$/m);
    assert.match(r.stdout, /^ok {4}cache logs\/ +\S+\/home\/logs$/m);
    // free disk decides the exit code on small machines; everything else must be ok
    const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL') && !/free disk/.test(l));
    assert.equal(fails, []);
  });
});

test.run();
