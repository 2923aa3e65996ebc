#!/usr/bin/env python3
"""systemctl for the boot test's hosts (docs/deploy.md, "The boot test"), which have no systemd.
It starts units as systemd would from their own files: the unit in /etc/systemd/system or
/usr/lib/systemd/system plus its drop-ins (<unit>.d/*.conf), the manager's DefaultEnvironment, then
Environment= and EnvironmentFile=, User=/Group= with the user's HOME, StateDirectory=; each
ExecStartPre= in order, then ExecStart= exactly as written (${VAR} and $VAR expanded as systemd
does). Type=oneshot/forking units are waited for; simple/notify units run under a supervisor that
restarts them as Restart= says and, for Type=notify, gives them a NOTIFY_SOCKET and waits for READY=1
(TimeoutStartSec=). Nothing else of systemd (cgroups, sandboxing, priorities) is emulated.

What happened is appended to /var/log/systemd-shim/events.jsonl (one JSON object a line: started
with pid and argv, ready, exited with code) and each unit's output to /var/log/journal/<unit>.log."""
import glob
import grp
import json
import os
import pwd
import re
import select
import shlex
import socket
import subprocess
import sys
import time

UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system']
EVENTS = '/var/log/systemd-shim/events.jsonl'
JOURNAL = '/var/log/journal'


def fail(message):
    sys.stderr.write(f'systemctl (boot test): {message}\n')
    sys.exit(1)


def unit_name(name):
    return name if '.' in name else f'{name}.service'


def parse_into(path, sections):
    section = None
    lines = open(path).read().replace('\\\n', ' ').splitlines()
    for raw in lines:
        line = raw.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            section = sections.setdefault(line[1:-1], {})
            continue
        if section is None or '=' not in line:
            fail(f'{path}: cannot parse "{line}"')
        key, value = (part.strip() for part in line.split('=', 1))
        # An empty assignment resets a list (e.g. "ExecStart=" in a drop-in), as in systemd.
        section[key] = [] if value == '' else section.get(key, []) + [value]


def load(name):
    name = unit_name(name)
    main = next((f'{d}/{name}' for d in UNIT_DIRS if os.path.exists(f'{d}/{name}')), None)
    if main is None:
        fail(f'Unit {name} not found.')
    sections = {}
    parse_into(main, sections)
    dropins = {}
    for d in reversed(UNIT_DIRS):  # /etc overrides /usr/lib for a drop-in of the same name
        for path in glob.glob(f'{d}/{name}.d/*.conf'):
            dropins[os.path.basename(path)] = path
    for base in sorted(dropins):
        parse_into(dropins[base], sections)
    return name, main, sections


def last(service, key, default=None):
    values = service.get(key, [])
    return values[-1] if values else default


def environment(service):
    env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin', 'LANG': 'C.UTF-8'}
    manager = {}
    for path in ['/etc/systemd/system.conf'] + sorted(glob.glob('/etc/systemd/system.conf.d/*.conf')):
        if os.path.exists(path):
            parse_into(path, manager)
    for value in manager.get('Manager', {}).get('DefaultEnvironment', []):
        env.update(assignment.split('=', 1) for assignment in shlex.split(value))
    user = last(service, 'User')
    if user:
        entry = pwd.getpwnam(user)
        env.update(HOME=entry.pw_dir, USER=user, LOGNAME=user, SHELL=entry.pw_shell)
    for value in service.get('Environment', []):
        env.update(assignment.split('=', 1) for assignment in shlex.split(value))
    for value in service.get('EnvironmentFile', []):
        optional = value.startswith('-')
        path = value.lstrip('-')
        if not os.path.exists(path):
            if optional:
                continue
            fail(f'EnvironmentFile {path} is missing')
        for line in open(path).read().splitlines():
            line = line.strip()
            if line and line[0] not in '#;' and '=' in line:
                key, val = line.split('=', 1)
                env[key.strip()] = val.strip().strip('"\'')
    for state in service.get('StateDirectory', []):
        for d in state.split():
            env['STATE_DIRECTORY'] = f'/var/lib/{d}'
    return env


def command(line, env):
    if line[0] in '@:+!':
        fail(f'the prefix "{line[0]}" of "{line}" is not emulated')
    ignore_failure = line.startswith('-')
    words = []
    for word in shlex.split(line.lstrip('-')):
        whole = re.fullmatch(r'\$(\w+)', word)
        if whole:
            words.extend(env.get(whole.group(1), '').split())
        else:
            words.append(re.sub(r'\$\{(\w+)\}', lambda m: env.get(m.group(1), ''), word))
    if '%' in ''.join(words):
        fail(f'specifiers (%) in "{line}" are not emulated')
    if not os.path.isabs(words[0]) or not os.access(words[0], os.X_OK):
        fail(f'Failed to locate executable {words[0]} ({line})')
    return words, ignore_failure


def as_user(service):
    user, group = last(service, 'User'), last(service, 'Group')
    if not user:
        return None
    entry = pwd.getpwnam(user)
    gid = entry.pw_gid if not group else grp.getgrnam(group).gr_gid

    def drop():
        os.setgid(gid)
        os.initgroups(user, gid)
        os.setuid(entry.pw_uid)
    return drop


def event(unit, kind, **fields):
    os.makedirs(os.path.dirname(EVENTS), exist_ok=True)
    with open(EVENTS, 'a') as f:
        f.write(json.dumps({'unit': unit, 'event': kind, 'at': time.time(), **fields}) + '\n')


def journal(unit):
    os.makedirs(JOURNAL, exist_ok=True)
    return open(f'{JOURNAL}/{unit}.log', 'a')


def events(unit):
    if not os.path.exists(EVENTS):
        return []
    return [e for e in map(json.loads, open(EVENTS).read().splitlines()) if e['unit'] == unit]


def run_and_wait(unit, service, line, env):
    argv, ignore_failure = command(line, env)
    with journal(unit) as out:
        code = subprocess.call(argv, env=env, cwd='/', stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                               preexec_fn=as_user(service), start_new_session=True)
    event(unit, 'ran', argv=argv, code=code)
    if code != 0 and not ignore_failure:
        fail(f'Job for {unit} failed: {line} exited with {code} (see /var/log/journal/{unit}.log)')


def start(name):
    unit, _, sections = load(name)
    service = sections.get('Service', {})
    env = environment(service)
    for d in ' '.join(service.get('StateDirectory', [])).split():
        os.makedirs(f'/var/lib/{d}', mode=0o755, exist_ok=True)
        if last(service, 'User'):
            entry = pwd.getpwnam(last(service, 'User'))
            os.chown(f'/var/lib/{d}', entry.pw_uid, entry.pw_gid)
    for line in service.get('ExecStartPre', []):
        run_and_wait(unit, service, line, env)
    kind = last(service, 'Type', 'simple')
    lines = service.get('ExecStart', [])
    if not lines:
        fail(f'{unit} has no ExecStart=')
    if kind in ('oneshot', 'forking'):
        for line in lines:
            run_and_wait(unit, service, line, env)
        event(unit, 'active')
        return
    if kind not in ('simple', 'exec', 'notify'):
        fail(f'Type={kind} of {unit} is not emulated')
    command(lines[-1], env)  # fails here, as systemd would, when the executable is missing
    before = len(events(unit))
    with journal(unit) as out:
        subprocess.Popen([sys.executable, os.path.realpath(__file__), '--supervise', unit], stdin=subprocess.DEVNULL,
                         stdout=out, stderr=out, start_new_session=True, cwd='/')
    if kind != 'notify':
        return
    timeout = float(re.sub(r's$', '', last(service, 'TimeoutStartSec', '90')))
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = events(unit)[before:]
        if any(e['event'] == 'ready' for e in new):
            return
        if any(e['event'] == 'exited' for e in new):
            fail(f'Job for {unit} failed: the main process exited before READY=1 (see /var/log/journal/{unit}.log)')
        time.sleep(0.2)
    fail(f'Job for {unit} failed: no READY=1 within {timeout:.0f} s (see /var/log/journal/{unit}.log)')


def supervise(unit):
    _, _, sections = load(unit)
    service = sections.get('Service', {})
    env = environment(service)
    argv, _ = command(service['ExecStart'][-1], env)
    notify = last(service, 'Type') == 'notify'
    sock = None
    if notify:
        os.makedirs('/run/systemd/shim', exist_ok=True)
        path = f'/run/systemd/shim/{unit}.notify'
        if os.path.exists(path):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o777)
        env = {**env, 'NOTIFY_SOCKET': path}
    restart = last(service, 'Restart', 'no')
    delay = float(re.sub(r's$', '', last(service, 'RestartSec', '0.1')))
    while True:
        child = subprocess.Popen(argv, env=env, cwd='/', stdin=subprocess.DEVNULL, preexec_fn=as_user(service))
        event(unit, 'started', pid=child.pid, argv=argv)
        ready = False
        while child.poll() is None:
            if sock is None:
                time.sleep(0.5)
                continue
            if select.select([sock], [], [], 0.5)[0]:
                message = sock.recv(4096).decode(errors='replace')
                if 'READY=1' in message.split('\n') and not ready:
                    ready = True
                    event(unit, 'ready', pid=child.pid)
        event(unit, 'exited', pid=child.pid, code=child.returncode)
        if restart == 'always' or (restart == 'on-failure' and child.returncode != 0):
            time.sleep(delay)
            continue
        return


def enable(name):
    unit, main, sections = load(name)
    for target in ' '.join(sections.get('Install', {}).get('WantedBy', [])).split():
        wants = f'/etc/systemd/system/{target}.wants'
        os.makedirs(wants, exist_ok=True)
        link = f'{wants}/{unit}'
        if not os.path.lexists(link):
            os.symlink(main, link)
            print(f'Created symlink {link} → {main}.')


def main(argv):
    if argv[:1] == ['--supervise']:
        return supervise(argv[1])
    if argv == ['daemon-reload']:
        return  # every start reads the unit files afresh
    if argv[:1] == ['enable']:
        now = '--now' in argv
        units = [a for a in argv[1:] if a != '--now']
        for u in units:
            enable(u)
        if now:
            for u in units:
                start(u)
        return
    if argv[:1] == ['start']:
        for u in argv[1:]:
            start(u)
        return
    if argv[:1] == ['is-active'] and len(argv) == 2:
        history = [e['event'] for e in events(unit_name(argv[1])) if e['event'] in ('active', 'ready', 'started', 'exited')]
        active = bool(history) and history[-1] != 'exited'
        print('active' if active else 'inactive')
        sys.exit(0 if active else 3)
    fail(f'not emulated: systemctl {" ".join(argv)}')


if __name__ == '__main__':
    main(sys.argv[1:])
