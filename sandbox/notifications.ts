/**
 * The sandbox's subscriber to the stack's SNS topic (docs/sandbox.md, "Alarms and notifications"):
 * an HTTP endpoint on 127.0.0.1 subscribed to the topic in the emulator (moto delivers to HTTP
 * subscriptions), which records every notification it receives in `<dir>/notifications.jsonl` and
 * hands it to `onNotification` (`sandbox up` prints it). The subscription's filter policy takes the
 * messages without an `event` attribute — the alarms' state changes — and leaves out the cluster's
 * own event notifications (adapters/sns-notifier.ts), which `cluster event` shows already.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { SubscribeCommand, UnsubscribeCommand, type SNSClient } from '@aws-sdk/client-sns';

export const NOTIFICATIONS_FILE = 'notifications.jsonl';

/** One notification as the subscriber received it. */
export interface SnsNotification {
  /** Date.now() on arrival. */
  receivedAt: number;
  messageId: string;
  subject: string | null;
  /** The message as published (CloudWatch's alarm notification is JSON text). */
  message: string;
  /** For an alarm's state change: which alarm, from and to which state, and why. */
  alarm: { name: string; from: string; to: string; reason: string } | null;
}

/** The alarm fields of a CloudWatch notification; null when the message is not one. */
export function alarmOf(message: string): SnsNotification['alarm'] {
  try {
    const body = JSON.parse(message) as Record<string, unknown>;
    if (typeof body.AlarmName !== 'string' || typeof body.NewStateValue !== 'string') return null;
    return { name: body.AlarmName, from: String(body.OldStateValue ?? ''), to: body.NewStateValue, reason: String(body.NewStateReason ?? '') };
  } catch {
    return null;
  }
}

/** The notifications recorded in a sandbox directory (from any process), oldest first. */
export function readNotifications(dir: string, sinceMs = 0): SnsNotification[] {
  const file = join(dir, NOTIFICATIONS_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as SnsNotification)
    .filter((n) => n.receivedAt >= sinceMs);
}

export interface NotificationSubscriberOptions {
  sns: SNSClient;
  topicArn: string;
  /** The sandbox directory (the record goes to `<dir>/notifications.jsonl`). */
  dir: string;
  onNotification?: (notification: SnsNotification) => void;
}

/** The constructor only assigns; {@link start} listens and subscribes. */
export class NotificationSubscriber {
  private server: Server | null = null;
  private subscriptionArn: string | undefined;

  constructor(private readonly options: NotificationSubscriberOptions) {}

  /** `http://127.0.0.1:PORT/`, once started. */
  endpoint = '';

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        res.writeHead(200);
        res.end();
        this.receive(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    const address = server.address();
    this.endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
    const subscribed = await this.options.sns.send(
      new SubscribeCommand({
        TopicArn: this.options.topicArn,
        Protocol: 'http',
        Endpoint: this.endpoint,
        Attributes: { FilterPolicy: JSON.stringify({ event: [{ exists: false }] }) },
        ReturnSubscriptionArn: true,
      }),
    );
    this.subscriptionArn = subscribed.SubscriptionArn;
  }

  private receive(body: string): void {
    let envelope: Record<string, unknown>;
    try {
      envelope = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return; // not SNS
    }
    if (envelope.Type !== 'Notification' || typeof envelope.Message !== 'string') return;
    const notification: SnsNotification = {
      receivedAt: Date.now(),
      messageId: String(envelope.MessageId ?? ''),
      subject: typeof envelope.Subject === 'string' ? envelope.Subject : null,
      message: envelope.Message,
      alarm: alarmOf(envelope.Message),
    };
    appendFileSync(join(this.options.dir, NOTIFICATIONS_FILE), `${JSON.stringify(notification)}\n`);
    this.options.onNotification?.(notification);
  }

  /** What was received since `sinceMs`, oldest first. */
  received(sinceMs = 0): SnsNotification[] {
    return readNotifications(this.options.dir, sinceMs);
  }

  async stop(): Promise<void> {
    if (this.subscriptionArn) await this.options.sns.send(new UnsubscribeCommand({ SubscriptionArn: this.subscriptionArn })).catch(() => undefined);
    this.subscriptionArn = undefined;
    const server = this.server;
    this.server = null;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}
