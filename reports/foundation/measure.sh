#!/usr/bin/env bash
# Wall time and peak memory (/usr/bin/time -v) of e2eb and wa-crypt-tools on the same file.
# Make the ~90 MB database with make-db.py (Python sqlite3), then:
#   reports/foundation/measure.sh target/release/e2eb .venv-interop/bin /path/to/msgstore.db
# usage: measure.sh E2EB_BIN WA_BIN_DIR DB
set -u
E=$1; W=$2; DB=$3; cd "$(dirname "$DB")"
[ -f key.txt ] || $E key generate --out key.txt
K=$(cat key.txt)
sync
t() { local name=$1; shift; /usr/bin/time -v "$@" 2> time.$name >/dev/null; printf '%-22s wall %-8s maxrss_kib %s\n' "$name" "$(grep 'Elapsed (wall' time.$name | awk '{print $NF}')" "$(grep 'Maximum resident' time.$name | awk '{print $NF}')"; }
for i in 1 2 3; do
echo "--- run $i"
t e2eb-crypt15-enc $E backup encrypt --key-file key.txt --format crypt15 $DB out.crypt15
t e2eb-crypt15-dec $E backup decrypt --key-file key.txt out.crypt15 dec.c15
cmp dec.c15 $DB || echo MISMATCH
t e2eb-v2-enc $E backup encrypt --key-file key.txt --format v2 $DB out.e2eb
t e2eb-v2-dec $E backup decrypt --key-file key.txt out.e2eb dec.v2
cmp dec.v2 $DB || echo MISMATCH
t wa-encrypt $W/waencrypt $K $DB wa.crypt15
t wa-decrypt $W/wadecrypt $K wa.crypt15 dec.wa
cmp dec.wa $DB || echo MISMATCH
done
ls -l $DB out.crypt15 out.e2eb wa.crypt15
