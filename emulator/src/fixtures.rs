//! Finding the fixture folders in `../shared` (recordings, spec examples, conformance
//! captures) for the suites that replay them.
//!
//! Outside CI a missing folder skips the suite and says why on stdout; under CI (the `CI`
//! environment variable set, as CI services set `CI=true`) it fails the test instead, so a
//! checkout without `../shared` cannot pass by checking nothing.
//!
//! Not part of the emulator's API (hidden from its docs): it lives here so that this
//! workspace's suites, the emulator's and the SDK's (which has the emulator as a
//! dev-dependency), share one copy that each published package contains. Also here:
//! [`json_files`], a fixture folder's examples; [`unsigned_jwt`], the token shape both
//! suites hand to the emulator's exchanges; and [`refuse_writes`] / [`allow_writes`], failed
//! writes on demand in a data directory.

pub use crate::persist::write_faults::{allow_writes, refuse_writes};

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where to look for one fixture folder.
pub struct Fixture<'a> {
    /// What the folder holds, for messages ("recordings", "spec examples").
    pub what: &'a str,
    /// The environment variable that names the folder, checked first.
    pub env_var: &'a str,
    /// Folders to try, relative to the crate's manifest directory, first match wins.
    pub candidates: &'a [&'a str],
}

/// Whether the `CI` variable asks for CI behaviour: set, and not empty, `0` or `false`.
pub fn is_ci(value: Option<&OsString>) -> bool {
    value
        .and_then(|v| v.to_str())
        .is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// The folder for `fixture`, from `env_value` (the variable's value, if set) or the first
/// existing candidate under `root`; otherwise why there is none. Pure: tested without touching
/// the process environment.
pub fn resolve(
    fixture: &Fixture<'_>,
    env_value: Option<OsString>,
    root: &Path,
) -> Result<PathBuf, String> {
    if let Some(dir) = env_value {
        let dir = PathBuf::from(dir);
        return if dir.is_dir() {
            Ok(dir)
        } else {
            Err(format!(
                "{}={} is not a directory",
                fixture.env_var,
                dir.display()
            ))
        };
    }
    let tried: Vec<PathBuf> = fixture.candidates.iter().map(|c| root.join(c)).collect();
    match tried.iter().find(|dir| dir.is_dir()) {
        Some(dir) => Ok(dir.clone()),
        None => Err(format!(
            "none of {} exists and {} is not set",
            tried
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            fixture.env_var
        )),
    }
}

/// What a suite does without its fixtures: under CI, panic (a failure); otherwise print why
/// it is skipped and give `None`.
pub fn missing<T>(suite: &str, what: &str, why: &str, ci: bool) -> Option<T> {
    if ci {
        panic!("{suite}: no {what} to check under CI (CI is set): {why}");
    }
    println!("SKIPPED {suite}: no {what} to check: {why} (under CI this fails)");
    None
}

/// The fixture folder for `suite`, or `None` after printing why it is skipped; under CI a
/// missing folder panics instead.
pub fn dir(suite: &str, fixture: &Fixture<'_>) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match resolve(fixture, std::env::var_os(fixture.env_var), root) {
        Ok(dir) => Some(dir),
        Err(why) => missing(
            suite,
            fixture.what,
            &why,
            is_ci(std::env::var_os("CI").as_ref()),
        ),
    }
}

/// The file `name` in the fixture folder for `suite`, as [`dir`] finds it; a folder without
/// the file is missing in the same way.
pub fn file(suite: &str, fixture: &Fixture<'_>, name: &str) -> Option<PathBuf> {
    let path = dir(suite, fixture)?.join(name);
    if path.is_file() {
        return Some(path);
    }
    let why = format!("{} is not a file", path.display());
    missing(
        suite,
        fixture.what,
        &why,
        is_ci(std::env::var_os("CI").as_ref()),
    )
}

/// `../shared/recordings` or `$ACS_RECORDINGS_DIR`.
pub const RECORDINGS: Fixture<'static> = Fixture {
    what: "recordings",
    env_var: "ACS_RECORDINGS_DIR",
    candidates: &["../shared/recordings", "../../shared/recordings"],
};

/// `../shared/spec` or `$ACS_SPEC_DIR`.
pub const SPEC: Fixture<'static> = Fixture {
    what: "REST spec examples",
    env_var: "ACS_SPEC_DIR",
    candidates: &["../shared/spec", "../../shared/spec"],
};

/// `../shared/conformance` or `$ACS_CONFORMANCE_DIR`.
pub const CONFORMANCE: Fixture<'static> = Fixture {
    what: "conformance captures",
    env_var: "ACS_CONFORMANCE_DIR",
    candidates: &["../shared/conformance", "../../shared/conformance"],
};

/// The `.json` files directly in `folder`, sorted by name. Panics (failing the calling test)
/// when the folder cannot be read or holds none: a suite over them would check nothing.
pub fn json_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no examples in {}", folder.display());
    files
}

/// Prints `{suite}: replayed N examples: a.json, b.json` for the files a suite went through.
pub fn report_replayed(suite: &str, files: &[PathBuf]) {
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    println!(
        "{suite}: replayed {} examples: {}",
        names.len(),
        names.join(", ")
    );
}

/// A JWT-shaped token carrying `claims` (a JSON object's text) and no valid signature: what
/// the emulator's Teams user and Teams Phone exchanges accept, since they read the claims
/// without checking a signature.
pub fn unsigned_jwt(claims: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.sig",
        b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64.encode(claims.as_bytes())
    )
}
