// cdk-nag acknowledgements with a written reason, named exactly as cdk-nag names
// a finding: AwsSolutions-IAM5[Resource::<flattened ARN>].
import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Same flattening as cdk-nag: Ref X -> <X>, GetAtt X.Y -> <X.Y>, Join -> concatenation. */
export function flattenCfn(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    const join = o['Fn::Join'];
    if (Array.isArray(join)) {
      const [delimiter, items] = join as [string, unknown[]];
      return items.map(flattenCfn).join(delimiter);
    }
    if (o['Fn::Sub'] !== undefined) return flattenCfn(o['Fn::Sub']);
    const getAtt = o['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${flattenCfn(getAtt[0])}.${flattenCfn(getAtt[1])}>`;
    if (o['Fn::ImportValue'] !== undefined) return flattenCfn(o['Fn::ImportValue']);
    if (o.Ref !== undefined) return `<${flattenCfn(o.Ref)}>`;
  }
  return JSON.stringify(node);
}

/** Acknowledges an IAM5 wildcard-resource finding for `resource` on `scope`. */
export function acknowledgeWildcardResource(scope: IConstruct, resource: string, reason: string): void {
  const flat = flattenCfn(Stack.of(scope).resolve(resource));
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flat}]`, reason });
}
