// IAM is a global service whose CloudTrail events reach EventBridge only in
// us-east-1. IamEventsForwarder, deployed there, sends them on to the default
// event bus of the region the publisher runs in, where its IamChanges rule picks
// them up (forwarded events keep source aws.iam and their detail), so
// `eventDriven` works wherever the publisher runs.
import { Aws, Stack, type StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { IAM_CHANGE_EVENTS } from '../contract/publisher-settings.js';
import { InvalidConfigError } from './config.js';

/** The one region IAM's CloudTrail events reach EventBridge in. */
export const IAM_EVENTS_REGION = 'us-east-1';

export interface IamEventsForwarderProps {
  /** Region of the publisher stack (whose default bus receives the events). */
  readonly targetRegion: string;
  /**
   * Account of the publisher's event bus. Another account must allow this one
   * to put events on its bus (a bus policy).
   * @default - this stack's account
   */
  readonly targetAccount?: string;
}

export class IamEventsForwarder extends Construct {
  public readonly rule: events.Rule;
  /** The role EventBridge assumes to put events on the target bus: events:PutEvents on that bus only. */
  public readonly role: iam.Role;
  /** ARN of the bus events are forwarded to. */
  public readonly targetBusArn: string;

  constructor(scope: Construct, id: string, props: IamEventsForwarderProps) {
    super(scope, id);
    if (!/^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/.test(props.targetRegion))
      throw new InvalidConfigError(
        `forwarder targetRegion is not a region name: ${JSON.stringify(props.targetRegion)}`,
      );
    const stack = Stack.of(this);
    this.targetBusArn = `arn:${Aws.PARTITION}:events:${props.targetRegion}:${props.targetAccount ?? stack.account}:event-bus/default`;
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: `iam-ssh-keys: forwards IAM change events to the default event bus of ${props.targetRegion}`,
    });
    // The EventBus target grants this role events:PutEvents on the target bus, and nothing else.
    this.rule = new events.Rule(this, 'IamChanges', {
      description: `iam-ssh-keys: forward IAM user, group and SSH key changes (CloudTrail) to ${props.targetRegion}`,
      eventPattern: {
        source: ['aws.iam'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['iam.amazonaws.com'], eventName: [...IAM_CHANGE_EVENTS] },
      },
      targets: [
        new targets.EventBus(events.EventBus.fromEventBusArn(this, 'PublisherBus', this.targetBusArn), {
          role: this.role,
        }),
      ],
    });
  }
}

export interface IamEventsForwarderStackProps extends StackProps {
  /** Region of the publisher stack. */
  readonly targetRegion: string;
  /** @default - this stack's account */
  readonly targetAccount?: string;
}

/** Deploy in us-east-1 (the stack pins its region) beside a publisher stack in another region. */
export class IamEventsForwarderStack extends Stack {
  public readonly forwarder: IamEventsForwarder;

  constructor(scope: Construct, id: string, props: IamEventsForwarderStackProps) {
    if (props.env?.region !== undefined && props.env.region !== IAM_EVENTS_REGION)
      throw new InvalidConfigError(`the IAM events forwarder must be deployed in ${IAM_EVENTS_REGION}`);
    if (props.targetRegion === IAM_EVENTS_REGION)
      throw new InvalidConfigError(`no forwarder needed: IAM events already reach ${IAM_EVENTS_REGION}`);
    super(scope, id, {
      description: `iam-ssh-keys: forwards IAM change events from ${IAM_EVENTS_REGION} to the publisher in ${props.targetRegion}`,
      ...props,
      env: { ...props.env, region: IAM_EVENTS_REGION },
    });
    this.forwarder = new IamEventsForwarder(this, 'Forwarder', {
      targetRegion: props.targetRegion,
      ...(props.targetAccount ? { targetAccount: props.targetAccount } : {}),
    });
  }
}
