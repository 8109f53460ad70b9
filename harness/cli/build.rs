//! Records the target triple the `e2eb` library is built for, so that
//! `e2eb fuzz` finds cargo-fuzz's binaries (`fuzz/target/<triple>/release/`)
//! without running a toolchain (`--no-build` needs only the binaries).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "x86_64-unknown-linux-gnu".to_owned());
    println!("cargo:rustc-env=E2EB_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
