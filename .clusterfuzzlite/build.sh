#!/bin/bash -eu
# Builds e2eb's fuzz targets for ClusterFuzzLite / OSS-Fuzz and puts into $OUT,
# for each target: the binary, its libFuzzer dictionary (<target>.dict, picked
# up automatically) and its committed seed corpus (<target>_seed_corpus.zip).
# The sanitizer comes from the base image's environment ($SANITIZER, $RUSTFLAGS).
cd "$SRC/e2eb"
cargo fuzz build --release --fuzz-dir fuzz
release_dir="fuzz/target/x86_64-unknown-linux-gnu/release"

# Which dictionary each target uses: the same table e2eb fuzz run reads
# (e2eb_core::fuzzing::TARGETS), kept here as data so this script needs no Rust.
declare -A dict=(
  [key_parse]=key [keyfile]=key
  [crypt15_prefix]=crypt15 [crypt15_decrypt]=crypt15 [crypt15_roundtrip]=crypt15 [crypt15_tamper]=crypt15
  [v2_header]=v2 [v2_decrypt]=v2 [v2_tamper]=v2 [metadata_blob]=metadata [vault_wire]=vault [vectors_json]=json
  [passkey_metadata]=passkey [passkey_data_json]=passkey [webauthn_assertion]=passkey
  [store_manifest]=store
)

for src in fuzz/fuzz_targets/*.rs; do
  target=$(basename "${src%.rs}")
  cp "$release_dir/$target" "$OUT/"
  if [[ -n "${dict[$target]:-}" ]]; then
    cp "fuzz/dict/${dict[$target]}.dict" "$OUT/$target.dict"
  fi
  if [[ -d "fuzz/corpus/$target" ]]; then
    (cd "fuzz/corpus/$target" && zip -q -r "$OUT/${target}_seed_corpus.zip" .)
  fi
done
