#!/usr/bin/env bash
# Start-up time of the command-line entry points, two revisions side by side in alternating order.
# usage: OLD=<checkout of the old revision> NEW=<checkout of this one> bash benchmarks/cli_start.sh > results.csv
# (each checkout needs its configs importable as pyagc.configs: cp -r configs pyagc/configs in the old checkout;
#  run with the project's virtual environment active). Prints round,revision,command,seconds.
set -u
tmp=$(mktemp)
for round in 1 2 3; do
  for rev in old new; do
    if [ "$rev" = old ]; then pp=$OLD; else pp=$NEW; fi
    for cmd in "pyagc.cli.train --help" "pyagc.cli.train head=nonexistent" "pyagc.cli.evaluate --help" \
               "pyagc.cli.predict --help"; do
      # shellcheck disable=SC2086
      PYTHONPATH=$pp /usr/bin/time -o "$tmp" -f %e python -m $cmd >/dev/null 2>&1
      echo "$round,$rev,$cmd,$(tail -1 "$tmp")"
    done
  done
done
rm -f "$tmp"
