// The us-east-1 forwarder of IAM CloudTrail events to the publisher's region.
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, FORWARDER_STACK, MAIN_STACK } from '../../../lib/build-app.js';
import { InvalidConfigError } from '../../../lib/config.js';
import { IamEventsForwarder, IamEventsForwarderStack } from '../../../lib/events-forwarder.js';
import { IAM_CHANGE_EVENTS } from '../../../lib/publisher.js';
import { logicalIdOf, roleStatements, type TestApp, testApp } from './cdk-helpers.js';

const apps: TestApp[] = [];
afterAll(() => {
  for (const a of apps) a.cleanup();
});
function app(context: Record<string, unknown> = {}): TestApp {
  const t = testApp(context, { bundle: false });
  apps.push(t);
  return t;
}

const busArn = (region: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      `:events:${region}:`,
      { Ref: 'AWS::AccountId' },
      ':event-bus/default',
    ],
  ],
});

describe('IamEventsForwarderStack', () => {
  const t = app();
  const stack = new IamEventsForwarderStack(t.app, 'Fwd', { targetRegion: 'eu-west-1' });
  const template = Template.fromStack(stack);

  it('is pinned to us-east-1, where IAM events arrive', () => {
    expect(stack.region).toBe('us-east-1');
  });

  it('forwards exactly the IAM change events the publisher listens to, to the default bus of the publisher region', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.iam'],
        'detail-type': ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['iam.amazonaws.com'], eventName: [...IAM_CHANGE_EVENTS] },
      },
      Targets: [
        Match.objectLike({
          Arn: busArn('eu-west-1'),
          RoleArn: { 'Fn::GetAtt': [logicalIdOf(stack, stack.forwarder.role), 'Arn'] },
        }),
      ],
    });
    template.resourceCountIs('AWS::Events::Rule', 1);
  });

  it('its role: assumed by EventBridge only, events:PutEvents on that one bus and nothing else', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' } },
        ],
      },
    });
    const statements = roleStatements(template, logicalIdOf(stack, stack.forwarder.role));
    expect(statements).toEqual([
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: busArn('eu-west-1') },
    ]);
    template.resourceCountIs('AWS::IAM::Role', 1);
  });

  it('another account: the bus ARN names it', () => {
    const s = new Stack(app().app, 'Other', { env: { region: 'us-east-1' } });
    const f = new IamEventsForwarder(s, 'F', {
      targetRegion: 'ap-southeast-2',
      targetAccount: '222222222222',
    });
    Template.fromStack(s).hasResourceProperties('AWS::Events::Rule', {
      Targets: [
        Match.objectLike({
          Arn: {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':events:ap-southeast-2:222222222222:event-bus/default'],
            ],
          },
        }),
      ],
    });
    expect(f.targetBusArn).toContain('ap-southeast-2');
  });

  it.each([
    [{ targetRegion: 'us-east-1' }, /no forwarder needed/],
    [{ targetRegion: 'eu-west-1', env: { region: 'eu-west-1' } }, /must be deployed in us-east-1/],
    [{ targetRegion: 'Ireland' }, /not a region name/],
  ])('refuses %j', (props, reason) => {
    expect(() => new IamEventsForwarderStack(app().app, 'Bad', props)).toThrow(InvalidConfigError);
    expect(() => new IamEventsForwarderStack(app().app, 'Bad', props)).toThrow(reason);
  });
});

describe('the app with -c forwardIamEventsTo=REGION', () => {
  it('adds the forwarder stack and acknowledges the publisher region warning', () => {
    const t = app({ forwardIamEventsTo: 'eu-west-1' });
    buildApp(t.app);
    const fwd = t.app.node.findChild(FORWARDER_STACK) as IamEventsForwarderStack;
    expect(fwd.region).toBe('us-east-1');
    Template.fromStack(fwd).hasResourceProperties('AWS::Events::Rule', {
      Targets: [Match.objectLike({ Arn: busArn('eu-west-1') })],
    });
    const main = t.app.node.findChild(MAIN_STACK) as Stack;
    Annotations.fromStack(main).hasNoWarning('*', Match.stringLikeRegexp('only in us-east-1'));
  });

  it('without it: no forwarder stack, and the warning stays', () => {
    const t = app();
    buildApp(t.app);
    expect(t.app.node.tryFindChild(FORWARDER_STACK)).toBeUndefined();
    const main = t.app.node.findChild(MAIN_STACK) as Stack;
    Annotations.fromStack(main).hasWarning('*', Match.stringLikeRegexp('IamEventsForwarderStack'));
  });

  it.each([
    [{ forwardIamEventsTo: 'us-east-1' }, /already reach us-east-1/],
    [{ forwardIamEventsTo: 'eu-west-1', eventDriven: 'false' }, /needs eventDriven/],
    [{ forwardIamEventsTo: 'mars' }, /forwardIamEventsTo/],
  ])('refuses %j', (context, reason) => {
    expect(() => buildApp(app(context).app)).toThrow(reason);
  });
});
