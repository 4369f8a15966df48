/**
 * Talking to Docker: is there a client, an engine, buildx, and a BuildKit new enough for the pipeline.
 * Every problem becomes a DockerError that says how to fix it, raised before any work starts.
 */
import { DockerError } from './errors.ts';

export interface DockerStatus {
  client: string | null;
  engine: string | null;
  buildx: string | null;
  buildkit: string | null;
  builder: string | null;
  problems: { what: string; fix: string }[];
}

export async function dockerStatus(builder?: string): Promise<DockerStatus> {
  const { $ } = await import('zx');
  const quiet = $({ quiet: true, nothrow: true, timeout: '30s' });
  const s: DockerStatus = { client: null, engine: null, buildx: null, buildkit: null, builder: null, problems: [] };
  const client = await quiet`docker version --format {{.Client.Version}}`;
  if (client.exitCode === 127 || /not found/.test(client.stderr)) {
    s.problems.push({ what: 'no docker client on PATH', fix: 'install Docker (as root: scripts/setup-docker.sh)' });
    return s;
  }
  s.client = client.stdout.trim().split('\n')[0] || null;
  const engine = await quiet`docker version --format {{.Server.Version}}`;
  if (engine.exitCode !== 0) {
    s.problems.push({ what: 'the Docker engine does not answer', fix: 'start dockerd (as root: scripts/setup-docker.sh), or set DOCKER_HOST' });
  } else {
    s.engine = engine.stdout.trim();
  }
  const buildx = await quiet`docker buildx version`;
  if (buildx.exitCode !== 0) {
    s.problems.push({ what: 'docker buildx is missing', fix: 'install the buildx plugin (Debian: docker-buildx; or scripts/setup-docker.sh)' });
    return s;
  }
  s.buildx = buildx.stdout.trim().split(/\s+/)[1] ?? buildx.stdout.trim();
  if (s.engine) {
    const inspect = builder ? await quiet`docker buildx inspect ${builder}` : await quiet`docker buildx inspect`;
    if (inspect.exitCode !== 0) {
      s.problems.push({ what: `buildx builder ${builder ?? '(default)'} is not usable: ${inspect.stderr.trim().split('\n').pop()}`, fix: 'list builders with `docker buildx ls`' });
    } else {
      s.builder = /^Name:\s+(\S+)/m.exec(inspect.stdout)?.[1] ?? null;
      s.buildkit = /BuildKit(?: version)?:\s+v?(\S+)/i.exec(inspect.stdout)?.[1] ?? null;
      // Distribution builds may report 0.0.0+unknown: only a real version below 0.11 is refused.
      const [maj, min] = (s.buildkit ?? '0.0').split('.').map((x) => Number.parseInt(x, 10));
      if (s.buildkit && !s.buildkit.startsWith('0.0.0') && maj === 0 && min! < 11) {
        s.problems.push({ what: `BuildKit ${s.buildkit} is too old (cache mounts, named contexts and ADD --checksum need >= 0.11)`, fix: 'upgrade Docker to 24+ or use a newer buildx builder' });
      }
    }
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
