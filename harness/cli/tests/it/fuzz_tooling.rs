//! The scale-out build (`.clusterfuzzlite/build.sh`) keeps its own copy of
//! which dictionary each target uses, so that it needs no Rust to run; this
//! test keeps that copy equal to `e2eb_core::fuzzing::TARGETS`.

use std::collections::BTreeMap;

use e2eb_core::fuzzing::TARGETS;

#[test]
fn clusterfuzzlite_dictionaries_match_the_targets() {
    let script =
        std::fs::read_to_string(crate::repo().join(".clusterfuzzlite/build.sh")).expect(".clusterfuzzlite/build.sh");
    let mut listed = BTreeMap::new();
    for word in script.split_whitespace() {
        if let Some((name, dict)) = word.strip_prefix('[').and_then(|w| w.split_once("]=")) {
            listed.insert(name.to_owned(), dict.trim_end_matches(')').to_owned());
        }
    }
    let expected: BTreeMap<String, String> =
        TARGETS.iter().filter_map(|t| t.dict.map(|d| (t.name.to_owned(), d.to_owned()))).collect();
    assert_eq!(listed, expected, "update the dict table in .clusterfuzzlite/build.sh");
    for file in ["project.yaml", "Dockerfile"] {
        assert!(crate::repo().join(".clusterfuzzlite").join(file).is_file(), "{file}");
    }
}
