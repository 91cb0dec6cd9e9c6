// Shared by the lib tests: apps built with the same context as `npx cdk synth`
// (cdk.json feature flags), written to a temp dir the caller removes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';

export const REPO_ROOT = new URL('../../../', import.meta.url).pathname;

export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export interface TestApp {
  readonly app: App;
  readonly outdir: string;
  cleanup(): void;
}

/**
 * `bundle: false` skips esbuild (CDK's `aws:cdk:bundling-stacks` = []): for
 * tests about resources and policies, not about the function code.
 */
export function testApp(context: Record<string, unknown> = {}, opts: { bundle?: boolean } = {}): TestApp {
  const outdir = mkdtempSync(join(tmpdir(), 'iam-ssh-keys-cdk-'));
  const app = new App({
    outdir,
    context: {
      ...cdkJsonContext(),
      ...(opts.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {}),
      ...context,
    },
  });
  return { app, outdir, cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}

export type Json = Record<string, unknown>;

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Principal?: unknown;
  readonly Condition?: Json;
}

export function actionsOf(s: Statement): string[] {
  return Array.isArray(s.Action) ? s.Action : [s.Action];
}

/** Every statement of every IAM policy (inline, managed, role policies) attached to the role with this logical id. */
export function roleStatements(template: Template, roleLogicalId: string): Statement[] {
  const out: Statement[] = [];
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Json }>;
  const refersToRole = (v: unknown) => JSON.stringify(v).includes(`"${roleLogicalId}"`);
  for (const r of Object.values(resources)) {
    const p = r.Properties;
    if ((r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && refersToRole(p.Roles)) {
      out.push(...((p.PolicyDocument as { Statement: Statement[] }).Statement ?? []));
    }
  }
  const role = resources[roleLogicalId];
  if (!role) throw new Error(`no resource ${roleLogicalId}`);
  for (const inline of (role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]) ?? []) {
    out.push(...inline.PolicyDocument.Statement);
  }
  if (role.Properties.ManagedPolicyArns !== undefined) {
    throw new Error('the role has managed policies attached: check them too');
  }
  return out;
}

export function logicalIdOf(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  const child = construct.node.defaultChild;
  if (!child) throw new Error('construct has no default child');
  return stack.getLogicalId(child as Parameters<Stack['getLogicalId']>[0]);
}
