#!/bin/sh
# `revive` in the container images (installed as /usr/local/bin/revive): the bundle, with the production
# node_modules beside it in $REVIVE_HOME (default /app). `exec` keeps node as the process that gets SIGTERM.
# No --enable-source-maps here: `revive serve` and `revive restore` turn maps on themselves, so that the health
# check, run every 30 s, does not parse them (figures in build.mjs).
exec node "${REVIVE_HOME:-/app}/dist/revive.mjs" "$@"
