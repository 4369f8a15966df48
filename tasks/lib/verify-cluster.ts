/**
 * The several-node part of `verify --full`: one controller and two compute containers on a private (internal)
 * Docker network with fixed addresses, the compute nodes configless (`slurm_install.sh --conf-server`, the
 * controller's slurm.key copied to them); `srun -N2 hostname` prints both hosts; one compute container is
 * killed, slurmctld is seen to mark it not responding, the container is started again and its slurmd comes
 * back to IDLE. Each node's work is scripts/verify/cluster-node.sh; this file orders it. Every wait is bounded
 * there (NODE_CHECK_WAIT) and here (each docker call has a timeout).
 */
import { spawnSync } from 'node:child_process';
import type { StepResult } from './verify.ts';

export interface ClusterRun {
  steps: StepResult[];
  containers: string[];
  network: string;
}

const CALL_TIMEOUT_MS = 180_000;

function docker(args: string[], input?: Buffer) {
  const r = spawnSync('docker', args, { input, timeout: CALL_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  return {
    status: r.status ?? -1,
    stdout: r.stdout ?? Buffer.alloc(0),
    stderr: String(r.stderr ?? r.error?.message ?? ''),
  };
}
const lastLine = (s: string) => s.trim().split('\n').pop() ?? '';

/** Runs the several-node check in `image`; containers and network are named after `tag`. Never throws. */
export function clusterCheck(o: {
  image: string;
  tarball: string;
  prefix: string;
  script: string;
  tag: string;
  wait?: number;
}): ClusterRun {
  const steps: StepResult[] = [];
  const network = `${o.tag}-net`;
  const hosts = { ctl: 'slurm-ctl', c1: 'slurm-c1', c2: 'slurm-c2' } as const;
  const names = { ctl: `${o.tag}-ctl`, c1: `${o.tag}-c1`, c2: `${o.tag}-c2` };
  const run: ClusterRun = { steps, containers: [], network: '' };
  const t0 = Date.now();
  const secs = (t: number) => `${Math.round((Date.now() - t) / 1000)} s`;

  // A private network, no way out (--internal); fixed addresses, so a restarted node keeps the address
  // slurmctld resolved for it. A /24 in 10.x that no other network on this engine uses.
  let subnet = '';
  for (let i = 0; i < 5 && !subnet; i++) {
    const cand = `10.${200 + ((process.pid + i * 7) % 50)}.${(process.pid * 13 + i * 31) % 250}`;
    const r = docker(['network', 'create', '--internal', '--subnet', `${cand}.0/24`, network]);
    if (r.status === 0) subnet = cand;
    else if (!/overlap|already exists/i.test(r.stderr)) {
      steps.push({ step: 'network', ok: false, detail: lastLine(r.stderr) });
      return run;
    }
  }
  if (!subnet) {
    steps.push({ step: 'network', ok: false, detail: 'no free 10.x /24 for a private network after 5 tries' });
    return run;
  }
  run.network = network;
  const ip = { ctl: `${subnet}.10`, c1: `${subnet}.11`, c2: `${subnet}.12` };
  for (const role of ['ctl', 'c1', 'c2'] as const) {
    const r = docker([
      'run',
      '-d',
      '--name',
      names[role],
      '--hostname',
      hosts[role],
      '--network',
      network,
      '--ip',
      ip[role],
      '--network-alias',
      hosts[role],
      '--entrypoint',
      'sleep',
      '-e',
      `CONTROLLER=${hosts.ctl}`,
      '-e',
      `NODE_CHECK_WAIT=${o.wait ?? 60}`,
      '-v',
      `${o.tarball}:/tmp/package.tar.gz:ro`,
      '-v',
      `${o.script}:/usr/local/bin/cluster-node.sh:ro`,
      o.image,
      'infinity',
    ]);
    if (r.status !== 0) {
      steps.push({ step: 'containers', ok: false, detail: `${names[role]}: ${lastLine(r.stderr)}` });
      return run;
    }
    run.containers.push(names[role]);
  }
  steps.push({
    step: 'containers',
    ok: true,
    detail: `${hosts.ctl} ${ip.ctl}, ${hosts.c1} ${ip.c1}, ${hosts.c2} ${ip.c2} on internal network ${network}`,
  });

  /** cluster-node.sh ACTION... in a container; its STEP lines become rows. False when one failed. */
  const node = (role: keyof typeof names, ...args: string[]): boolean => {
    const r = docker([
      'exec',
      names[role],
      'bash',
      '/usr/local/bin/cluster-node.sh',
      '/tmp/package.tar.gz',
      o.prefix,
      ...args,
    ]);
    const out = r.stdout.toString();
    let failed = false;
    for (const line of out.split('\n')) {
      const m = /^STEP (\S+) (ok|FAIL) ?(.*)$/.exec(line);
      if (m) {
        steps.push({ step: `cluster ${m[1]}`, ok: m[2] === 'ok', detail: m[3]! });
        failed ||= m[2] !== 'ok';
      }
    }
    if (r.status !== 0 && !failed) {
      steps.push({
        step: `cluster ${args[0]}`,
        ok: false,
        detail: `${names[role]}: exited ${r.status}: ${lastLine(r.stderr || out)}`,
      });
      failed = true;
    }
    return !failed;
  };

  const tSetup = Date.now();
  if (!node('ctl', 'install', 'controller', `${hosts.c1},${hosts.c2}`)) return run;
  // Every node needs the controller's slurm.key (auth/slurm); the install script keeps a key it finds.
  const key = docker(['exec', names.ctl, 'cat', '/etc/slurm/slurm.key']);
  if (key.status !== 0 || key.stdout.length !== 1024) {
    steps.push({
      step: 'cluster key',
      ok: false,
      detail: `cannot read the controller's slurm.key: ${lastLine(key.stderr)}`,
    });
    return run;
  }
  for (const role of ['c1', 'c2'] as const) {
    const w = docker(
      ['exec', '-i', names[role], 'sh', '-c', 'mkdir -p /etc/slurm && umask 077 && cat > /etc/slurm/slurm.key'],
      key.stdout,
    );
    if (w.status !== 0) {
      steps.push({ step: 'cluster key', ok: false, detail: `${names[role]}: ${lastLine(w.stderr)}` });
      return run;
    }
    if (!node(role, 'install', 'compute', hosts.ctl)) return run;
  }
  if (!node('ctl', 'start', 'slurmctld') || !node('c1', 'start', 'slurmd') || !node('c2', 'start', 'slurmd'))
    return run;
  if (!node('ctl', 'idle', `${hosts.c1},${hosts.c2}`)) return run;
  if (!node('ctl', 'srun', '2')) return run;
  const two = steps.at(-1)!;
  if (two.detail !== `${hosts.c1} ${hosts.c2}`) {
    steps.push({
      step: 'cluster srun-N2',
      ok: false,
      detail: `printed '${two.detail}', expected '${hosts.c1} ${hosts.c2}'`,
    });
    return run;
  }
  steps.push({
    step: 'cluster up',
    ok: true,
    detail: `3 nodes installed, configless slurmd on 2, srun -N2 on both: ${secs(tSetup)}`,
  });

  // A compute node dies (its container killed), slurmctld notices, the node comes back.
  const tKill = Date.now();
  const k = docker(['kill', names.c2]);
  if (k.status !== 0) {
    steps.push({ step: 'cluster kill', ok: false, detail: lastLine(k.stderr) });
    return run;
  }
  if (!node('ctl', 'not-responding', hosts.c2)) return run;
  const s = docker(['start', names.c2]);
  if (s.status !== 0) {
    steps.push({ step: 'cluster restart', ok: false, detail: lastLine(s.stderr) });
    return run;
  }
  // The probe job was COMPLETING on the dead node: slurmctld resends its terminate request only every 60 s
  // (RPC_RETRY_INTERVAL, src/slurmctld/slurmctld.h), so the node may need that long to be IDLE again.
  if (
    !node('c2', 'start', 'slurmd') ||
    !node('ctl', 'idle', `${hosts.c1},${hosts.c2}`, String(2 * (o.wait ?? 60) + 30)) ||
    !node('ctl', 'srun', '2')
  )
    return run;
  steps.push({
    step: 'cluster restart',
    ok: true,
    detail: `${hosts.c2} killed, seen not responding, restarted, IDLE again, srun -N2 on both: ${secs(tKill)}; cluster total ${secs(t0)}`,
  });
  return run;
}

/** Removes the containers and the network of a cluster run. */
export function clusterCleanup(run: ClusterRun): void {
  if (run.containers.length > 0) docker(['rm', '-f', ...run.containers]);
  if (run.network) docker(['network', 'rm', run.network]);
}
