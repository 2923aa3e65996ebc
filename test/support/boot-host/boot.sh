#!/bin/bash
# Boots one emulated EC2 host of the example stack's boot test (test/e2e/example-stack-boot.test.ts,
# docs/deploy.md "The boot test"). Runs as root inside the host's network namespace, in a mount
# namespace of its own: /etc, /usr, /var and /opt are overlays whose writes land in the host's own
# directory (so three hosts on one machine each have their own /etc/pgvigil, /opt/pgvigil,
# /var/lib/pgsql, /usr/bin shims…), /tmp and /run are empty tmpfs as after a boot. Then the user data
# runs as cloud-init runs it: as root, from /, with a minimal environment.
#   boot.sh HOST_DIR AWS_ENDPOINT_URL
set -euo pipefail
dir=$1
endpoint=$2
for d in etc usr var opt; do
  mount -t overlay "pgvigil-boot-$d" -o "lowerdir=/$d,upperdir=$dir/upper/$d,workdir=$dir/work/$d" "/$d"
done
mount -t tmpfs -o mode=1777 pgvigil-boot-tmp /tmp
mount -t tmpfs -o mode=755 pgvigil-boot-run /run
# What the postgresql package's tmpfiles.d entry creates at every boot: the socket directory.
install -d -o postgres -g postgres -m 2775 /run/postgresql
cd /
# AWS_ENDPOINT_URL stands for the VPC endpoints' private DNS names: every AWS call goes to the emulator.
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  AWS_ENDPOINT_URL="$endpoint" /bin/bash /var/lib/cloud/instance/user-data.txt
