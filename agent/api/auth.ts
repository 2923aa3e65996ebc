/**
 * The agent API's authentication (docs/agent.md, "The HTTP API"): requests that are not read-only
 * probes, and their answers, carry an HMAC-SHA256 of their body under the cluster's shared secret.
 * The secret itself never travels and is never logged. Requests and answers are signed under
 * different labels, so an answer cannot be replayed as a request or the other way round.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export const SIGNATURE_HEADER = 'x-pgvigil-signature';

/** Shortest secret accepted: 128 bits as hex or base64 text. */
export const MIN_SECRET_BYTES = 16;

export function sign(secret: Buffer, kind: 'request' | 'answer', body: string): string {
  return createHmac('sha256', secret).update(`pgvigil-api-${kind}\n`).update(body).digest('hex');
}

export function verify(secret: Buffer, kind: 'request' | 'answer', body: string, signature: string | undefined): boolean {
  if (signature === undefined || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return timingSafeEqual(Buffer.from(sign(secret, kind, body), 'hex'), Buffer.from(signature, 'hex'));
}

/** The secret's text as stored: the value itself, or a JSON object holding it under "secret". */
export function secretFromText(text: string, where: string): Buffer {
  let value = text.trim();
  if (value.startsWith('{')) {
    try {
      const v = (JSON.parse(value) as { secret?: unknown }).secret;
      if (typeof v !== 'string') throw new Error('no "secret" string');
      value = v.trim();
    } catch (error) {
      throw new Error(`${where} holds JSON without a "secret" string (${(error as Error).message})`, { cause: error });
    }
  }
  if (Buffer.byteLength(value) < MIN_SECRET_BYTES) throw new Error(`${where} holds a secret shorter than ${MIN_SECRET_BYTES} bytes`);
  return Buffer.from(value);
}

/** Reads the cluster's API secret from rest_api_secret_file or rest_api_secret_arn; undefined when neither is set. */
export async function loadApiSecret(
  config: { rest_api_secret_file: string; rest_api_secret_arn: string; aws_region: string },
  env: NodeJS.ProcessEnv,
): Promise<Buffer | undefined> {
  if (config.rest_api_secret_file) {
    const text = await readFile(config.rest_api_secret_file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new Error(`rest_api_secret_file ${config.rest_api_secret_file} cannot be read: ${error.code ?? error.message}`);
    });
    return secretFromText(text, `rest_api_secret_file ${config.rest_api_secret_file}`);
  }
  if (config.rest_api_secret_arn) {
    // Loaded only here: most agents read a file or nothing, and the client is large.
    const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
    const endpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? env.AWS_ENDPOINT_URL;
    const client = new SecretsManagerClient({ region: config.aws_region || env.AWS_REGION || 'us-east-1', ...(endpoint ? { endpoint } : {}) });
    try {
      const r = await client.send(new GetSecretValueCommand({ SecretId: config.rest_api_secret_arn }));
      if (r.SecretString === undefined) throw new Error('the secret has no string value');
      return secretFromText(r.SecretString, `secret ${config.rest_api_secret_arn}`);
    } catch (error) {
      throw new Error(`rest_api_secret_arn ${config.rest_api_secret_arn} cannot be read: ${(error as Error).message}`, { cause: error });
    } finally {
      client.destroy();
    }
  }
  return undefined;
}
