//! The `candlelit` binary answers `--help` and `--version`, and refuses what it does not know.

use std::process::Command;

fn candlelit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_candlelit")).args(args).output().expect("the candlelit binary runs")
}

#[test]
fn version_names_the_package_version() {
    let out = candlelit(&["--version"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("candlelit {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_describes_the_tool() {
    let out = candlelit(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("deep learning in Rust") && text.contains("Usage: candlelit"), "{text}");
}

#[test]
fn unknown_arguments_fail_with_usage() {
    let out = candlelit(&["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: candlelit"));
}

#[test]
fn no_arguments_report_the_build() {
    let out = candlelit(&[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let cuda = if cfg!(feature = "cuda") { "yes" } else { "no" };
    assert!(text.contains(&format!("CUDA support: {cuda}")), "{text}");
}
