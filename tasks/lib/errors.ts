/**
 * Errors that reach the user. Every one carries what went wrong (message, naming the bad value), what is
 * allowed or what happened around it (context, printed with --verbose) and what to do (remediation).
 * The top level prints `error: <message> (<remediation>)` on one line and exits with `exitCode`.
 */
export class SlurmFactoryError extends Error {
  readonly context: Record<string, unknown>;
  readonly remediation: string;
  readonly exitCode: number;
  constructor(
    message: string,
    opts: { remediation?: string; context?: Record<string, unknown>; exitCode?: number } = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.context = opts.context ?? {};
    this.remediation = opts.remediation ?? '';
    this.exitCode = opts.exitCode ?? 1;
  }
  /** The one line a user sees. */
  oneLine(): string {
    return this.remediation ? `${this.message}; ${this.remediation}` : this.message;
  }
}

/** Bad arguments, flags, environment or catalog lookups: a usage problem, exit 2. */
export class ConfigurationError extends SlurmFactoryError {
  constructor(message: string, opts: { remediation?: string; context?: Record<string, unknown> } = {}) {
    super(message, { ...opts, exitCode: 2 });
  }
}

/** Docker missing, engine stopped, buildx missing: the build cannot start, exit 2. */
export class DockerError extends SlurmFactoryError {
  constructor(message: string, opts: { remediation?: string; context?: Record<string, unknown> } = {}) {
    super(message, { ...opts, exitCode: 2 });
  }
}

/** A build ran and failed. */
export class BuildError extends SlurmFactoryError {}

/** Spack (inside a build, or a local Spack given to the tests) failed. */
export class SpackError extends SlurmFactoryError {}

/** Verification of an artifact failed (checksum, signature, glibc floor, live cluster). */
export class VerifyError extends SlurmFactoryError {}

/** The user pressed Ctrl-C (SIGINT): the task stopped at a safe point, exit 130. */
export class InterruptedError extends SlurmFactoryError {
  constructor(message = 'interrupted') {
    super(message, { remediation: 'nothing half-written was kept', exitCode: 130 });
  }
}
