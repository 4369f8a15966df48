/**
 * publish against a local moto_server (S3 protocol on 127.0.0.1, started here):
 *  - a Spack v3 buildcache of exactly 1000 objects uploaded one at a time (--jobs 1) and in parallel (--jobs 8)
 *    to two fresh buckets: the parallel speed-up, measured in this run;
 *    once directly (loopback, where the Python server's CPU is the limit) and once through a local proxy that
 *    delays every server-to-client chunk by 20 ms (a stand-in for the round trip to a remote store);
 *  - re-publishing it unchanged: objects checked per second and bytes uploaded (must be 0), in-process and
 *    through the CLI (`publish`, Node start-up included); goal <= 5 s.
 * Numbers are printed, not asserted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MOTO_ENV, makeBuild, makeBuildcache, motoBinary, startMoto } from '../test/s3-fixtures.ts';
import { planPublish } from '../tasks/lib/publish.ts';
import { executePublish, formatBytes } from '../tasks/lib/publish-s3.ts';

/** A TCP proxy on 127.0.0.1 that holds every chunk from the server for `ms` before passing it on. */
function delayingProxy(targetPort: number, ms: number): Promise<{ server: Server; endpoint: string }> {
  const server = createServer((down) => {
    const up = createConnection({ host: '127.0.0.1', port: targetPort });
    down.pipe(up);
    up.on('data', (chunk) => {
      setTimeout(() => {
        if (!down.destroyed) down.write(chunk);
      }, ms);
    });
    up.on('end', () => setTimeout(() => down.end(), ms));
    const close = () => {
      up.destroy();
      down.destroy();
    };
    up.on('error', close);
    down.on('error', close);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, endpoint: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    }),
  );
}

if (!motoBinary()) {
  console.log('SKIP publish benchmark: no working moto_server (apt-get install python3-moto python3-flask-cors)');
  process.exit(0);
}
Object.assign(process.env, MOTO_ENV);
const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sf-bench-publish-'));
const moto = await startMoto();
const s3 = await import('@aws-sdk/client-s3');
const client = new s3.S3Client({ endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
try {
  const home = join(work, 'home');
  makeBuild(join(home, 'builds'), { slurm: '25.11', gcc: '13.4.0', bytes: 1000 });
  const packages = 331; // 3 objects each + 7 (index, keys, layout) = 1000
  const blobBytes = 8 * 1024;
  await makeBuildcache(join(home, 'mirrors', 'slurm-25.11-gcc13.4.0'), { packages, blobBytes });
  const plan = planPublish({ home, prefix: '', buildcache: 'slurm-only', tarballs: false });
  const bytes = plan.objects.reduce((s, o) => s + o.size, 0);
  console.log(`buildcache: ${plan.objects.length} objects, ${formatBytes(bytes)}; moto_server ${moto.endpoint}`);

  const opts = { retries: 3, timeoutMs: 30_000, dryRun: false, progress: 'none' as const };
  const upload = async (bucket: string, jobs: number, endpoint = moto.endpoint) => {
    await client.send(new s3.CreateBucketCommand({ Bucket: bucket }));
    const t = performance.now();
    const r = await executePublish(plan, { bucket, endpoint }, { ...opts, jobs });
    const s = (performance.now() - t) / 1000;
    if (r.uploaded !== plan.objects.length)
      throw new Error(`expected ${plan.objects.length} uploads, got ${r.uploaded}`);
    return s;
  };
  const serial = await upload('bench-serial', 1);
  const parallel = await upload('bench-parallel', 8);
  console.log(
    `first upload, one at a time (--jobs 1): ${serial.toFixed(2)} s, ${(plan.objects.length / serial).toFixed(0)} objects/s`,
  );
  console.log(
    `first upload, parallel (--jobs 8):     ${parallel.toFixed(2)} s, ${(plan.objects.length / parallel).toFixed(0)} objects/s`,
  );
  console.log(
    `parallel speed-up, direct: ${(serial / parallel).toFixed(2)}x (the Python server and this process share ${(await import('node:os')).availableParallelism()} CPU cores)`,
  );
  const proxy = await delayingProxy(Number(new URL(moto.endpoint).port), 20);
  try {
    const serialLat = await upload('bench-serial-latency', 1, proxy.endpoint);
    const parallelLat = await upload('bench-parallel-latency', 8, proxy.endpoint);
    console.log(
      `with 20 ms added per response: one at a time ${serialLat.toFixed(2)} s, parallel (--jobs 8) ${parallelLat.toFixed(2)} s; parallel speed-up ${(serialLat / parallelLat).toFixed(2)}x`,
    );
  } finally {
    proxy.server.close();
  }

  const t = performance.now();
  const again = await executePublish(plan, { bucket: 'bench-parallel', endpoint: moto.endpoint }, { ...opts, jobs: 8 });
  const s = (performance.now() - t) / 1000;
  console.log(
    `re-publish unchanged (in-process): ${again.checked} objects checked in ${s.toFixed(2)} s = ${(again.checked / s).toFixed(0)} objects/s; ${again.uploaded} objects, ${again.bytesUploaded} bytes uploaded; goal 5 s; ratio ${(s / 5).toFixed(2)}`,
  );

  const tc = performance.now();
  const cli = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'Taskfile.ts'),
      'publish',
      '--bucket',
      'bench-parallel',
      '--endpoint',
      moto.endpoint,
      '--buildcache',
      'slurm-only',
      '--progress',
      'none',
    ],
    { env: { ...process.env, SLURM_FACTORY_HOME: home }, encoding: 'utf8' },
  );
  const sc = (performance.now() - tc) / 1000;
  if (cli.status !== 0) throw new Error(`publish CLI failed: ${cli.stderr}`);
  const m = /: (\d+) objects uploaded \((\d+) bytes\), (\d+) already there, (\d+) checked/.exec(cli.stdout);
  console.log(
    `re-publish unchanged (CLI, Node start-up included): ${m?.[4]} objects checked in ${sc.toFixed(2)} s = ${(Number(m?.[4]) / sc).toFixed(0)} objects/s; ${m?.[1]} objects, ${m?.[2]} bytes uploaded; goal 5 s; ratio ${(sc / 5).toFixed(2)}`,
  );
} finally {
  client.destroy();
  await moto.stop();
  rmSync(work, { recursive: true, force: true });
}
