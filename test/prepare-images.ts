/**
 * Builds every Docker image the Docker suites use, ahead of them, in two lanes at once, so that on a fresh
 * machine the image builds overlap the unit tests instead of each suite waiting for the next image in turn:
 *   lane 1: slurm-factory-base:debian12 -> the x86 Slurm fixture (compiles Slurm: the longest single build)
 *   lane 2: debian13, debian11, then (where arm64 binaries run) the arm64 Debian 12 and 13 images, then, once
 *           lane 1's debian12 exists (its cross-compile stage runs on it), the arm64 fixture
 * Every image is made by the same ensure* functions the suites call (test/fixture.ts), which take a lock on the
 * script that builds it, so a suite that asks for an image while this builds it waits for it instead of building
 * it a second time, and finds it made. Nothing here is needed for correctness: a suite still builds what it needs.
 *
 *   node --import tsx test/prepare-images.ts      # build them all now (prints one line an image)
 * test/run.ts starts it in the background when any Docker suite is selected and an engine answers
 * (SLURM_FACTORY_TEST_PREPARE=0 turns that off), and waits for it before the first Docker suite.
 */
import { fileURLToPath } from 'node:url';
import { needArm64Emulation, needDocker } from './helpers.ts';
import {
  ensureArm64SlurmFixture,
  ensureBaseImage,
  ensureSlurmFixture,
  imageExists,
  SLURM_ARM64_FIXTURE_IMAGE,
  SLURM_FIXTURE_IMAGE,
} from './fixture.ts';

export interface PrepareResult {
  /** Images this run built (they were missing), with the seconds each took. */
  built: { image: string; seconds: number }[];
  /** Images that were already there. */
  present: string[];
  /** Images whose build failed, with the first line of why. */
  failed: { image: string; why: string }[];
  seconds: number;
}

export async function prepareImages(say: (line: string) => void = () => {}): Promise<PrepareResult> {
  const started = Date.now();
  const result: PrepareResult = { built: [], present: [], failed: [], seconds: 0 };
  const step = async (image: string, make: () => Promise<string>) => {
    if (imageExists(image)) {
      result.present.push(image);
      return;
    }
    const t0 = Date.now();
    try {
      await make();
      const seconds = Math.round((Date.now() - t0) / 1000);
      result.built.push({ image, seconds });
      say(`${image} built in ${seconds} s`);
    } catch (e) {
      const why = (e as Error).message.split('\n')[0]!;
      result.failed.push({ image, why });
      say(`${image} FAILED: ${why}`);
    }
  };
  const base12 = step('slurm-factory-base:debian12', () => ensureBaseImage('debian12'));
  const lane1 = base12.then(() => step(SLURM_FIXTURE_IMAGE, ensureSlurmFixture));
  const lane2 = (async () => {
    await step('slurm-factory-base:debian13', () => ensureBaseImage('debian13'));
    await step('slurm-factory-base:debian11', () => ensureBaseImage('debian11'));
    if (needArm64Emulation()) return; // the arm64 suites skip, naming scripts/setup-arm64.sh
    await step('slurm-factory-base:debian12-arm64', () => ensureBaseImage('debian12', 'arm64'));
    await step('slurm-factory-base:debian13-arm64', () => ensureBaseImage('debian13', 'arm64'));
    await base12;
    await step(SLURM_ARM64_FIXTURE_IMAGE, ensureArm64SlurmFixture);
  })();
  await Promise.all([lane1, lane2]);
  result.seconds = Math.round((Date.now() - started) / 1000);
  return result;
}

/** One line for the test log. */
export function summary(r: PrepareResult): string {
  const parts = [`${r.built.length} built`, `${r.present.length} already there`];
  if (r.failed.length > 0) parts.push(`${r.failed.length} FAILED (${r.failed.map((f) => f.image).join(', ')})`);
  return `images: ${parts.join(', ')} in ${r.seconds} s`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const why = needDocker();
  if (why) {
    console.log(`prepare-images: nothing to do: ${why}`);
  } else {
    const r = await prepareImages((l) => console.log(`prepare-images: ${l}`));
    console.log(`prepare-images: ${summary(r)}`);
    process.exitCode = r.failed.length > 0 ? 1 : 0;
  }
}
