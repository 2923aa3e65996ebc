#!/usr/bin/env python3
"""The instance metadata service of one boot-test host (docs/deploy.md, "The boot test"), served on
169.254.169.254:80 inside the host's network namespace. IMDSv2 only, as the example stack requires
(requireImdsv2): a PUT /latest/api/token with a TTL header gives a token, and every GET must carry it.
Serves what the user data and the AWS SDKs read: instance-id, local-ipv4, placement/availability-zone
and placement/region, and the instance profile's credentials.
  imds.py METADATA_JSON   ({"instance-id": …, "local-ipv4": …, "availability-zone": …, "region": …, "role": …})"""
import json
import secrets
import sys
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

META = json.loads(sys.argv[1])
TOKENS = set()
CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/'


def credentials():
    now = datetime.now(timezone.utc)
    return json.dumps({
        'Code': 'Success',
        'LastUpdated': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'Type': 'AWS-HMAC',
        'AccessKeyId': 'ASIABOOTTEST',
        'SecretAccessKey': 'boottest',
        'Token': 'boottest',
        'Expiration': (now + timedelta(hours=6)).strftime('%Y-%m-%dT%H:%M:%SZ'),
    })


def answer(path):
    if path == CREDENTIALS_PATH:
        return META['role']
    if path == CREDENTIALS_PATH + META['role']:
        return credentials()
    return {
        '/latest/meta-data/instance-id': META['instance-id'],
        '/latest/meta-data/local-ipv4': META['local-ipv4'],
        '/latest/meta-data/placement/availability-zone': META['availability-zone'],
        '/latest/meta-data/placement/region': META['region'],
    }.get(path)


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body=''):
        data = body.encode()
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        ttl = self.headers.get('X-aws-ec2-metadata-token-ttl-seconds')
        if self.path != '/latest/api/token' or not ttl or not ttl.isdigit():
            return self.reply(400)
        token = secrets.token_urlsafe(32)
        TOKENS.add(token)
        self.reply(200, token)

    def do_GET(self):
        if self.headers.get('X-aws-ec2-metadata-token') not in TOKENS:
            return self.reply(401)  # IMDSv1 is off (HttpTokens: required)
        body = answer(self.path)
        self.reply(404) if body is None else self.reply(200, body)

    def log_message(self, fmt, *args):
        sys.stderr.write('imds: %s %s\n' % (self.command, self.path))


ThreadingHTTPServer(('169.254.169.254', 80), Handler).serve_forever()
