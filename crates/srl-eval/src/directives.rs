//! Which tests an instance runs and which files the eval script resets (SWE-bench's `get_test_directives`).

use std::sync::LazyLock;

use regex::Regex;
use srl_core::Instance;

/// Files whose extension marks them as data, not tests (SWE-bench's `NON_TEST_EXTS`; `csv` has no dot there).
pub const NON_TEST_EXTS: [&str; 11] =
    [".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml", ".yaml", ".toml"];

static DIFF_GIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"diff --git a/.* b/(.*)").unwrap());
static MINUS_A: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"--- a/(.*)").unwrap());

/// The test directives of an instance (the same unanchored matches as SWE-bench, so ids line up with its lists): the files its test patch touches, without non-code files; for Django,
/// dotted module names without `tests/` and `.py` (`tests/auth_tests/test_validators.py` ->
/// `auth_tests.test_validators`).
pub fn test_directives(instance: &Instance) -> Vec<String> {
    let files = DIFF_GIT
        .captures_iter(&instance.test_patch)
        .map(|c| c[1].trim_end_matches('\r').to_string())
        .filter(|f| !NON_TEST_EXTS.iter().any(|ext| f.ends_with(ext)));
    if instance.repo == "django/django" {
        files
            .map(|f| {
                let f = f.strip_suffix(".py").unwrap_or(&f);
                let f = f.strip_prefix("tests/").unwrap_or(f);
                f.replace('/', ".")
            })
            .collect()
    } else {
        files.collect()
    }
}

/// The files that existed before the test patch and that it modifies (its `--- a/...` lines): what the eval script
/// checks out at the base commit before and after the tests. New files are not reset.
pub fn test_files(test_patch: &str) -> Vec<String> {
    MINUS_A.captures_iter(test_patch).map(|c| c[1].trim_end_matches('\r').to_string()).collect()
}
