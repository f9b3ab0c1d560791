#!/bin/sh
# Start the container's command as the unprivileged APP_USER (default `app`), after
# giving it a cgroup subtree of its own when the container starts as root: a non-root
# server cannot make cgroups, and without them the diff-test sandbox has no memory
# budget for a test as a whole (testruns/sandbox/cgroups.py; its results then say so).
#
# cgroup v1: a writable `app` group under the container's own, per controller (pids,
#   memory), the server moved into it; test groups are made inside it.
# cgroup v2: `app` under the hierarchy's root (a service's own cgroup holds processes,
#   so it cannot pass controllers on) with pids and memory enabled for its children,
#   the server in `app/server`; test groups are made beside it.
# Anything that fails here only costs the limit, never the start: the server starts
# anyway and its test results carry the isolation label.
set -u
APP_USER="${APP_USER:-app}"
APP_GROUP="${APP_GROUP:-$APP_USER}"

delegate() {
    root=/sys/fs/cgroup
    if [ -f "$root/cgroup.controllers" ]; then
        dir="$root/app"
        mkdir -p "$dir/server" || return 1
        echo $$ > "$dir/server/cgroup.procs" || return 1
        for controller in pids memory; do
            echo "+$controller" > "$dir/cgroup.subtree_control" || true
        done
        chown -R "$APP_USER:$APP_GROUP" "$dir"
        return 0
    fi
    for controller in pids memory; do
        [ -f "$root/$controller/cgroup.procs" ] || continue
        own=$(sed -n "s/^[0-9]*:\([^:]*,\)\{0,1\}$controller\(,[^:]*\)\{0,1\}:\(.*\)/\3/p" /proc/self/cgroup)
        dir="$root/$controller${own%/}/app"
        mkdir -p "$dir" && chown -R "$APP_USER:$APP_GROUP" "$dir" && echo $$ > "$dir/cgroup.procs" \
            || echo "docker-entrypoint: no $controller cgroup for $APP_USER" >&2
    done
}

if [ "$(id -u)" = 0 ]; then
    delegate || echo "docker-entrypoint: no cgroup subtree for $APP_USER" >&2
    exec setpriv --reuid="$APP_USER" --regid="$APP_GROUP" --init-groups -- "$@"
fi
exec "$@"
