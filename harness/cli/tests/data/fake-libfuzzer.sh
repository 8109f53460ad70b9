#!/bin/bash
# Emulates a libFuzzer binary for the driver: fuzzing writes two crashes
# (two inputs, same bug) and exits 1; running on one input prints a panic;
# -minimize_crash writes a shorter input.
for a in "$@"; do
  case "$a" in
    -artifact_prefix=*) prefix="${a#-artifact_prefix=}";;
    -exact_artifact_path=*) exact="${a#-exact_artifact_path=}";;
    -minimize_crash=1) minimize=1;;
    -max_total_time=*) fuzzing=1;;
  esac
done
last="${@: -1}"
if [ -n "$minimize" ]; then printf 'XY' > "$exact"; exit 0; fi
if [ -n "$fuzzing" ]; then
  echo "#1000	INITED cov: 10 ft: 20 corp: 1/5b exec/s: 0 rss: 30Mb" >&2
  echo "#50000	NEW    cov: 12 ft: 25 corp: 2/9b lim: 4 exec/s: 25000 rss: 31Mb" >&2
  n=$(ls "$prefix" | wc -l)
  if [ "$n" -lt 2 ]; then printf 'XYZZY%s' "$n" > "${prefix}crash-$n"; echo "==1== ERROR: libFuzzer: deadly signal" >&2; exit 1; fi
  echo "stat::number_of_executed_units: 50000" >&2; exit 0
fi
if [ -f "$last" ]; then
  echo "thread '<unnamed>' panicked at harness/core/src/key.rs:42:5:" >&2
  echo "digits disagree with the model" >&2
  echo "==1== ERROR: libFuzzer: deadly signal" >&2; exit 1
fi
