#!/usr/bin/env python3
"""The AWS CLI for the boot test's hosts (docs/deploy.md, "The boot test"): the two calls the example
stack's user data makes, through boto3 (the emulator's own dependency, so present wherever the tests
run) with the default credential chain, which on these hosts finds the instance profile's
credentials in the instance metadata service, as the real CLI does. Anything else is refused."""
import argparse
import sys
from urllib.parse import urlparse

import boto3


def main(argv):
    if argv[:2] == ['s3', 'cp']:
        p = argparse.ArgumentParser(prog='aws s3 cp')
        p.add_argument('source')
        p.add_argument('target')
        p.add_argument('--region')
        a = p.parse_args(argv[2:])
        url = urlparse(a.source)
        if url.scheme != 's3':
            sys.exit(f'aws (boot test): only s3:// sources are emulated, not {a.source}')
        boto3.client('s3', region_name=a.region).download_file(url.netloc, url.path.lstrip('/'), a.target)
        print(f'download: {a.source} to {a.target}')
        return
    if argv[:2] == ['secretsmanager', 'get-secret-value']:
        p = argparse.ArgumentParser(prog='aws secretsmanager get-secret-value')
        p.add_argument('--secret-id', required=True)
        p.add_argument('--region')
        p.add_argument('--query', choices=['SecretString'], required=True)
        p.add_argument('--output', choices=['text'], required=True)
        a = p.parse_args(argv[2:])
        value = boto3.client('secretsmanager', region_name=a.region).get_secret_value(SecretId=a.secret_id)
        print(value['SecretString'])
        return
    sys.exit(f'aws (boot test): not emulated: aws {" ".join(argv)}')


if __name__ == '__main__':
    main(sys.argv[1:])
