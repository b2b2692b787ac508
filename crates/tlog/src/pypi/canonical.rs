//! The canonical identifier of a PyPI file: the filename reduced to what installers
//! compare, so that aliases of one file (`Alias-1.00.zip`, `alias-1.0.tar.gz`) meet.

use std::fmt;

use super::filename::Parts;
use super::{DistributionKind, Filename, normalize_project_name, normalize_version};

/// The canonical form of a [`Filename`]: two filenames that installers treat as the same
/// file have equal identifiers, so a log that keeps one digest per identifier cannot
/// serve different content under an alias.
///
/// The text, one line of space-separated fields (no field can hold a space):
///
/// ```text
/// sdist <project> <version>
/// wheel <project> <version> [<build>] <python>-<abi>-<platform>
/// ```
///
/// - `<project>` is the PEP 503 normalized name ([`normalize_project_name`]): `Alias`,
///   `ALIAS`, `a.l_i-as` spell one project, as in PyPI's simple index;
/// - `<version>` is the PEP 440 normalized version ([`normalize_version`]): `1.00`,
///   `v1.0` and `1.0` are one version (trailing zeros are kept: `1` and `1.0` stay
///   distinct, as in the draft PEP's `/transparency/{project}/{version}/...` paths);
/// - an sdist's archive format is dropped: PyPI keeps one sdist per release (PEP 527,
///   PEP 625), so `.tar.gz` and `.zip` are aliases;
/// - a wheel keeps what makes wheels of one release different files: its build tag
///   (numeric part without leading zeros, as `packaging` compares it), and its python,
///   abi and platform tag sets, each lowercased, sorted and deduplicated (installers
///   expand `py2.py3` to a set of tags, and `packaging` lowercases tags).
///
/// The text is stable: the log's uniqueness index stores it, and a change to it is a
/// change of that index's schema.
///
/// ```
/// use bintrail_tlog::pypi::Filename;
///
/// let id = |name: &str| name.parse::<Filename>().unwrap().canonical();
/// assert_eq!(id("Alias-1.00.zip"), id("alias-1.0.tar.gz"));
/// assert_eq!(id("alias-1.0.tar.gz").as_str(), "sdist alias 1.0");
/// assert_eq!(id("Alias-1.0-py3-none-any.whl").as_str(), "wheel alias 1.0 py3-none-any");
/// assert_ne!(id("alias-1.0-py3-none-any.whl"), id("alias-1.0.tar.gz"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CanonicalIdentifier(String);

impl CanonicalIdentifier {
    /// The identifier's text, as documented on the type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CanonicalIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Filename {
    /// The file's [`CanonicalIdentifier`].
    pub fn canonical(&self) -> CanonicalIdentifier {
        let parts = self.parts();
        let project = normalize_project_name(parts.name);
        let version = version_of(&parts);
        let text = match parts.kind {
            DistributionKind::Sdist => format!("sdist {project} {version}"),
            DistributionKind::Wheel => {
                let build = parts
                    .build
                    .map(|b| format!("{} ", normalize_build_tag(b)))
                    .unwrap_or_default();
                let [python, abi, platform] = parts.tags.map(normalize_tag_set);
                format!("wheel {project} {version} {build}{python}-{abi}-{platform}")
            }
        };
        CanonicalIdentifier(text)
    }

    /// The version component normalized per PEP 440 ([`normalize_version`]), e.g. `1.0`
    /// for `Alias-1.00.tar.gz`.
    pub fn normalized_version(&self) -> String {
        version_of(&self.parts())
    }
}

#[allow(
    clippy::expect_used,
    reason = "Filename invariant: the version is PEP 440"
)]
fn version_of(parts: &Parts<'_>) -> String {
    // A `Filename` exists only once `normalize_version` accepted its version.
    normalize_version(parts.version).expect("Filename invariant: the version is PEP 440")
}

/// `0012b` → `12b`: the number without leading zeros, the rest as written.
fn normalize_build_tag(tag: &str) -> String {
    let digits = tag.len() - tag.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let number = tag[..digits].trim_start_matches('0');
    let number = if number.is_empty() { "0" } else { number };
    format!("{number}{}", &tag[digits..])
}

/// `PY3.py2.py3` → `py2.py3`.
fn normalize_tag_set(set: &str) -> String {
    let mut tags: Vec<String> = set.split('.').map(str::to_ascii_lowercase).collect();
    tags.sort();
    tags.dedup();
    tags.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> String {
        name.parse::<Filename>().unwrap().canonical().to_string()
    }

    /// One named test per row: filenames that must share one identifier, and its text.
    macro_rules! aliases {
        ($($test:ident => [$($name:expr),+], $want:expr;)*) => {$(
            #[test]
            fn $test() {
                $(assert_eq!(id($name), $want, "{}", $name);)+
            }
        )*};
    }

    aliases! {
        issue_19_sdists => ["alias-1.0.tar.gz", "Alias-1.0.tar.gz", "ALIAS-1.0.tar.gz", "alias-1.0.zip", "alias-1.00.tar.gz"], "sdist alias 1.0";
        issue_19_wheels => ["alias-1.0-py3-none-any.whl", "Alias-1.0-py3-none-any.whl"], "wheel alias 1.0 py3-none-any";
        separators_in_name => ["zope.interface-7.0.3.tar.gz", "Zope_Interface-7.0.3.tar.gz", "zope-interface-7.0.3.zip"], "sdist zope-interface 7.0.3";
        version_spellings => ["x-1.0rc1.tar.gz", "x-1.0_RC_1.tar.gz", "x-v1.0c1.tar.gz", "x-0!1.0rc01.tar.gz"], "sdist x 1.0rc1";
        wheel_tag_sets => ["x-1.0-py2.py3-none-any.whl", "x-1.0-PY3.py2-NONE-Any.whl", "x-1.0-py3.py2.py3-none-any.whl"], "wheel x 1.0 py2.py3-none-any";
        wheel_build_tag => ["x-1.0-01-py3-none-any.whl", "x-1.0-1-py3-none-any.whl"], "wheel x 1.0 1 py3-none-any";
        wheel_version_underscore => ["x-1.0_post1-py3-none-any.whl", "x-1.0.post1-py3-none-any.whl"], "wheel x 1.0.post1 py3-none-any";
    }

    /// One named test per row: filenames that are different files.
    macro_rules! distinct {
        ($($test:ident => $a:expr, $b:expr;)*) => {$(
            #[test]
            fn $test() {
                assert_ne!(id($a), id($b));
            }
        )*};
    }

    distinct! {
        wheel_and_sdist => "x-1.0-py3-none-any.whl", "x-1.0.tar.gz";
        trailing_zero_kept => "x-1.tar.gz", "x-1.0.tar.gz";
        other_platform => "x-1.0-cp312-cp312-win_amd64.whl", "x-1.0-cp312-cp312-win32.whl";
        other_abi => "x-1.0-cp312-cp312-any.whl", "x-1.0-cp312-abi3-any.whl";
        build_tag_or_none => "x-1.0-1-py3-none-any.whl", "x-1.0-py3-none-any.whl";
        build_tag_suffix => "x-1.0-1a-py3-none-any.whl", "x-1.0-1b-py3-none-any.whl";
        local_version => "x-1.0+cpu.tar.gz", "x-1.0.tar.gz";
        epoch => "x-1!1.0.tar.gz", "x-1.0.tar.gz";
        legacy_hyphenated_name => "a-b-1.0.tar.gz", "a-1.0.tar.gz";
    }

    #[test]
    fn normalized_version_of_a_filename() {
        let f: Filename = "Alias-1.00.tar.gz".parse().unwrap();
        assert_eq!(f.normalized_version(), "1.0");
        assert_eq!(f.project_name(), "alias");
    }
}
