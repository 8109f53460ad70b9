//! Reading criterion's results back (design §8 "Benchmarks"): criterion
//! writes `<group>/<function>/<parameter>/new/{benchmark,estimates}.json`
//! under `CRITERION_HOME`; this turns them into the report's measurements,
//! in a stable order.

use std::path::Path;

use serde::Deserialize;

use super::report::{Interval, Measurement, Unit};
use super::run::{BenchError, io_err};

/// Criterion's `benchmark.json` (the fields used here).
#[derive(Debug, Deserialize)]
struct CriterionId {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    throughput: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct CriterionEstimate {
    confidence_interval: CriterionInterval,
    point_estimate: f64,
}

#[derive(Debug, Deserialize)]
struct CriterionInterval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Debug, Deserialize)]
struct CriterionEstimates {
    median: CriterionEstimate,
}

/// Reads every `new/` result under a criterion output directory.
pub fn read_criterion_dir(home: &Path) -> Result<Vec<Measurement>, BenchError> {
    let mut out = Vec::new();
    let mut stack = vec![home.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                if path.join("benchmark.json").is_file() {
                    out.push(read_result(&path)?);
                }
            } else if path.file_name().is_none_or(|n| n != "report") {
                stack.push(path);
            }
        }
    }
    Ok(out)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BenchError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text)
        .map_err(|e| BenchError::Criterion { path: path.display().to_string(), reason: e.to_string() })
}

fn read_result(dir: &Path) -> Result<Measurement, BenchError> {
    let id: CriterionId = read_json(&dir.join("benchmark.json"))?;
    let est: CriterionEstimates = read_json(&dir.join("estimates.json"))?;
    let throughput = id.throughput.as_ref().and_then(|t| {
        let obj = t.as_object()?;
        let (kind, n) = obj.iter().next()?;
        let n = n.as_u64()?;
        match kind.as_str() {
            "Bytes" | "BytesDecimal" => Some((Unit::Bytes, n)),
            "Elements" => Some((Unit::Operations, n)),
            "Bits" => Some((Unit::Bytes, n / 8)),
            _ => None,
        }
    });
    let time = Interval {
        point: est.median.point_estimate,
        lower: est.median.confidence_interval.lower_bound,
        upper: est.median.confidence_interval.upper_bound,
    };
    Ok(Measurement::new(id.group_id, id.function_id, id.value_str, time, throughput))
}

const GROUP_ORDER: &[&str] = &[
    "crypt15",
    "v2",
    "aead",
    "kdf",
    "key",
    "opaque_test",
    "opaque_moderate",
    "opaque_rfc9807",
    "passkey",
    "store",
    "fleet",
];

fn size_of_param(p: Option<&str>) -> u64 {
    let Some(p) = p else { return 0 };
    let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().unwrap_or(0);
    match &p[digits.len()..] {
        "KiB" => n << 10,
        "MiB" => n << 20,
        "GiB" => n << 30,
        _ => n,
    }
}

/// Orders measurements by the suite's group order, then function, then size.
pub fn sort_measurements(ms: &mut [Measurement]) {
    ms.sort_by(|a, b| {
        let rank = |g: &str| GROUP_ORDER.iter().position(|x| *x == g).unwrap_or(GROUP_ORDER.len());
        (rank(&a.group), &a.group, &a.function, size_of_param(a.parameter.as_deref())).cmp(&(
            rank(&b.group),
            &b.group,
            &b.function,
            size_of_param(b.parameter.as_deref()),
        ))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_order_measurements() {
        let m = |g: &str, f: &str, p: &str| {
            Measurement::new(
                g.into(),
                Some(f.into()),
                Some(p.into()),
                Interval { point: 1.0, lower: 1.0, upper: 1.0 },
                None,
            )
        };
        let mut ms = vec![m("v2", "encrypt", "64MiB"), m("crypt15", "encrypt", "1MiB"), m("v2", "encrypt", "16KiB")];
        sort_measurements(&mut ms);
        let ids: Vec<&str> = ms.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["crypt15/encrypt/1MiB", "v2/encrypt/16KiB", "v2/encrypt/64MiB"]);
    }

    #[test]
    fn criterion_results_are_read_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("v2/encrypt/64MiB/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"v2","function_id":"encrypt","value_str":"64MiB","throughput":{"Bytes":67108864},"full_id":"v2/encrypt/64MiB","directory_name":"v2/encrypt/64MiB","title":"v2/encrypt/64MiB"}"#,
        )
        .unwrap();
        let est = |p: f64| {
            format!(
                r#"{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{},"upper_bound":{}}},"point_estimate":{p},"standard_error":1.0}}"#,
                p - 1.0,
                p + 1.0
            )
        };
        std::fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{},"median":{},"median_abs_dev":{},"slope":null,"std_dev":{}}}"#,
                est(11.0),
                est(1e7),
                est(1.0),
                est(1.0)
            ),
        )
        .unwrap();
        // criterion's own report directory is ignored
        std::fs::create_dir_all(dir.path().join("report/new")).unwrap();
        let ms = read_criterion_dir(dir.path()).unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].id, "v2/encrypt/64MiB");
        assert_eq!(ms[0].time_ns.point, 1e7);
        assert_eq!(ms[0].unit, Some(Unit::Bytes));
        assert!((ms[0].rate.unwrap().point - 67_108_864.0 * 100.0).abs() < 1.0);
    }
}
