// Placeholder being replaced by the publisher wiring (issue 2); exists so the CDK app can bundle it.
export async function handler(): Promise<void> {
  throw new Error('publisher handler not implemented yet');
}
