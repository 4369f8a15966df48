/**
 * CycloneDX validation for the tests: the official CycloneDX 1.6 JSON schema, bundled in
 * @cyclonedx/cyclonedx-library (res/schema; remote schema loading is disabled there, so this works offline),
 * checked with its strict JSON validator (ajv + ajv-formats). Returns null when valid, else the errors.
 */
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';

let validator: Validation.JsonStrictValidator | undefined;
export async function cyclonedxErrors(json: string): Promise<unknown> {
  validator ??= new Validation.JsonStrictValidator(Spec.Version.v1dot6);
  return validator.validate(json);
}
