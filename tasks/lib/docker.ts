/**
 * Talking to Docker: is there a client, an engine, buildx, and a BuildKit new enough for the pipeline.
 * Every problem becomes a DockerError that says how to fix it, raised before any work starts.
 */
import { execFile } from 'node:child_process';
import { DockerError } from './errors.ts';

export interface DockerStatus {
  client: string | null;
  engine: string | null;
  buildx: string | null;
  buildkit: string | null;
  builder: string | null;
  /** `docker buildx inspect`'s text, and the default context's `docker info` DriverStatus (for attestations). */
  inspect: string;
  driverStatus: string | null;
  problems: { what: string; fix: string }[];
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `docker ARGS` without a shell; a missing binary is exit code 127, as a shell would say. execFile, not
 * zx as elsewhere: this runs before every build, and zx's import alone costs ~90 ms.
 */
function docker(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('docker', args, { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err
        ? (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 127
          : typeof err.code === 'number'
            ? err.code
            : 1
        : 0;
      resolve({ exitCode: code, stdout, stderr });
    });
  });
}

/**
 * What Docker can do here: `docker version` (client and engine), `docker buildx version` and
 * `docker buildx inspect` (builder, BuildKit), asked at once. Every build asks, so they are kept cheap.
 */
export async function dockerStatus(builder?: string): Promise<DockerStatus> {
  const s: DockerStatus = {
    client: null,
    engine: null,
    buildx: null,
    buildkit: null,
    builder: null,
    inspect: '',
    driverStatus: null,
    problems: [],
  };
  // The default context's image store too, asked at the same time: whether BuildKit may attach attestations
  // (provenance.ts, attestationSupportOf) is then known without asking buildx and the engine a second time.
  const [version, buildx, inspect, info] = await Promise.all([
    docker(['version', '--format', '{{.Client.Version}}|{{if .Server}}{{.Server.Version}}{{end}}']),
    docker(['buildx', 'version']),
    docker(['buildx', 'inspect', ...(builder ? [builder] : [])]),
    docker(['--context', 'default', 'info', '--format', '{{json .DriverStatus}}']),
  ]);
  if (info.exitCode === 0) s.driverStatus = info.stdout;
  if (version.exitCode === 127) {
    s.problems.push({ what: 'no docker client on PATH', fix: 'install Docker (as root: scripts/setup-docker.sh)' });
    return s;
  }
  const [client = '', engine = ''] = version.stdout.trim().split('\n')[0]!.split('|');
  s.client = client || null;
  if (version.exitCode !== 0 || !engine) {
    s.problems.push({
      what: 'the Docker engine does not answer',
      fix: 'start dockerd (as root: scripts/setup-docker.sh), or set DOCKER_HOST',
    });
  } else {
    s.engine = engine;
  }
  if (buildx.exitCode !== 0) {
    s.problems.push({
      what: 'docker buildx is missing',
      fix: 'install the buildx plugin (Debian: docker-buildx; or scripts/setup-docker.sh)',
    });
    return s;
  }
  s.buildx = buildx.stdout.trim().split(/\s+/)[1] ?? buildx.stdout.trim();
  if (!s.engine) return s;
  if (inspect.exitCode !== 0) {
    s.problems.push({
      what: `buildx builder ${builder ?? '(default)'} is not usable: ${inspect.stderr.trim().split('\n').pop()}`,
      fix: 'list builders with `docker buildx ls`',
    });
    return s;
  }
  s.inspect = inspect.stdout;
  s.builder = /^Name:\s+(\S+)/m.exec(inspect.stdout)?.[1] ?? null;
  s.buildkit = /BuildKit(?: version)?:\s+v?(\S+)/i.exec(inspect.stdout)?.[1] ?? null;
  // Distribution builds may report 0.0.0+unknown: only a real version below 0.11 is refused.
  const [maj, min] = (s.buildkit ?? '0.0').split('.').map((x) => Number.parseInt(x, 10));
  if (s.buildkit && !s.buildkit.startsWith('0.0.0') && maj === 0 && min! < 11) {
    s.problems.push({
      what: `BuildKit ${s.buildkit} is too old (cache mounts, named contexts and ADD --checksum need >= 0.11)`,
      fix: 'upgrade Docker to 24+ or use a newer buildx builder',
    });
  }
  return s;
}

/** Raises a DockerError for the first problem, so builds stop before doing anything. */
export async function requireDocker(builder?: string): Promise<DockerStatus> {
  const s = await dockerStatus(builder);
  const p = s.problems[0];
  if (p) throw new DockerError(p.what, { remediation: p.fix });
  return s;
}
