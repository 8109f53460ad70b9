//! What errors about a failed child process (cargo, criterion, libFuzzer,
//! llvm-cov, ...) quote of its output: the last few lines, which hold the cause.

/// The last `lines` lines of a child's output, decoded lossily.
pub fn tail(output: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_last_lines() {
        assert_eq!(super::tail(b"a\nb\nc\n", 2), "b\nc");
        assert_eq!(super::tail(b"a", 5), "a");
        assert_eq!(super::tail(b"", 5), "");
    }
}
