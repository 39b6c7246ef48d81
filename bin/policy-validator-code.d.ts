/** Types of bin/policy-validator-code.js (build-time code of the policy schema's validator). */
export function withPrecompiledValidator(root: string, file: string, src: string): string;
