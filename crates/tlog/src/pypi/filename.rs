//! Wheel and sdist filenames as PyPI serves them.

use std::fmt;
use std::str::FromStr;

use super::normalize_version;

/// The longest filename accepted, in bytes: the common file-system limit for one path
/// element, so every accepted name can also be stored as a file.
pub const MAX_FILENAME_LEN: usize = 255;

/// A valid wheel or sdist filename (see [`Filename::from_str`] for what is accepted).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Filename(String);

/// What kind of distribution a [`Filename`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DistributionKind {
    /// A built distribution, `.whl`.
    Wheel,
    /// A source distribution, `.tar.gz` (or legacy `.zip`).
    Sdist,
}

/// Why a [`Filename`] was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilenameError {
    /// Returned for the empty string.
    #[error("filename is empty")]
    Empty,
    /// Returned when the name is longer than [`MAX_FILENAME_LEN`] bytes.
    #[error("filename is {len} bytes long; at most {MAX_FILENAME_LEN} are accepted")]
    TooLong {
        /// The length found.
        len: usize,
    },
    /// Returned for any character outside ASCII letters, digits and `._-+!` (this rules
    /// out path separators, whitespace, NUL and other control characters).
    #[error("filename contains forbidden character {found:?} at byte {offset}")]
    ForbiddenCharacter {
        /// The offending character.
        found: char,
        /// Its byte offset in the filename.
        offset: usize,
    },
    /// Returned when the name ends in neither `.whl`, `.tar.gz` nor `.zip`.
    #[error("filename must end in .whl, .tar.gz or .zip")]
    UnknownExtension,
    /// Returned when a wheel name does not split into 5 or 6 `-`-separated components.
    #[error(
        "wheel filename must be name-version(-build)?-python-abi-platform.whl; found {found} components"
    )]
    WheelComponents {
        /// How many components were found.
        found: usize,
    },
    /// Returned when an sdist name has no `-` between name and version.
    #[error("sdist filename must be name-version.tar.gz or name-version.zip")]
    SdistMissingVersion,
    /// Returned when the distribution name is not a valid project name.
    #[error("invalid distribution name {name:?}")]
    InvalidName {
        /// The name component.
        name: String,
    },
    /// Returned when the version component is not a PEP 440 version (see
    /// [`normalize_version`](super::normalize_version)); this also rules out stacked
    /// extensions such as `x-1.0.tar.gz.zip` and empty release segments (`x-1..0.tar.gz`).
    #[error("invalid version {version:?}: not a PEP 440 version")]
    InvalidVersion {
        /// The version component.
        version: String,
    },
    /// Returned when a wheel's build tag does not start with a digit or has bad characters.
    #[error("invalid build tag {tag:?}: it must start with a digit")]
    InvalidBuildTag {
        /// The build-tag component.
        tag: String,
    },
    /// Returned when a wheel's python, abi or platform tag set is malformed, or holds an
    /// archive extension (`x-1.0-py3-none-any.whl.whl`).
    #[error("invalid {which} tag {tag:?}")]
    InvalidTag {
        /// Which of the three tag components: `"python"`, `"abi"` or `"platform"`.
        which: &'static str,
        /// The tag component.
        tag: String,
    },
}

/// The components of a valid filename, borrowed from it.
pub(super) struct Parts<'a> {
    pub(super) kind: DistributionKind,
    pub(super) name: &'a str,
    pub(super) version: &'a str,
    /// A wheel's build tag, when it has one.
    pub(super) build: Option<&'a str>,
    /// A wheel's python, abi and platform tag sets; empty strings for an sdist.
    pub(super) tags: [&'a str; 3],
}

impl Filename {
    /// The filename exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a wheel or an sdist.
    pub fn kind(&self) -> DistributionKind {
        self.parts().kind
    }

    /// The distribution name as written in the filename (e.g. `zope.interface`, `Django`).
    pub fn distribution(&self) -> &str {
        self.parts().name
    }

    /// The version component as written in the filename (not normalized).
    pub fn version(&self) -> &str {
        self.parts().version
    }

    /// The project name normalized per PEP 503: lowercase, each run of `-`, `_` and `.`
    /// replaced by one `-` (so `zope.interface` and `Zope_Interface` both give
    /// `zope-interface`). This is the name PyPI's simple index uses.
    pub fn project_name(&self) -> String {
        normalize_project_name(self.parts().name)
    }

    #[allow(
        clippy::expect_used,
        reason = "Filename invariant: text was validated on construction"
    )]
    pub(super) fn parts(&self) -> Parts<'_> {
        // A `Filename` only exists after `split_filename` accepted its text.
        split_filename(&self.0).expect("Filename invariant: text was validated on construction")
    }
}

/// Normalizes a project name per PEP 503 (`re.sub(r"[-_.]+", "-", name).lower()`).
pub fn normalize_project_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        }
    }
    out
}

impl FromStr for Filename {
    type Err = FilenameError;

    /// Accepts what PyPI serves, and nothing that could be a path:
    ///
    /// - wheels, `name-version(-build)?-python-abi-platform.whl`, per the PyPA binary
    ///   distribution format; each tag may be a compressed set joined with `.`
    ///   (`py2.py3`), the build tag starts with a digit;
    /// - sdists, `name-version.tar.gz` (the only sdist format PyPI accepts today, PEP 625)
    ///   and `name-version.zip`, which PEP 527 still allowed and which many existing
    ///   releases use. Older formats (`.tar.bz2`, `.egg`, `.exe`) are not accepted: PyPI
    ///   stopped taking them in 2017 and bintrail logs new uploads.
    ///
    /// Names are ASCII letters, digits and `._-` (`-` only in legacy sdist names such as
    /// `python-dateutil-2.8.2.tar.gz`, where the version follows the last `-`), starting
    /// and ending with a letter or digit, as PEP 508 requires of project names; uppercase
    /// and `.` are accepted because earlier specifications allowed them. Versions must be
    /// PEP 440 versions, as PyPI has required of every upload since 2018, but need not be
    /// normalized (old releases are not): see [`Filename::canonical`] for how aliases
    /// of one file compare. No tag of a wheel may be an archive extension (`whl`, `zip`,
    /// `tar`, `gz`, ...): a name with stacked extensions is a display spoof, not a file
    /// any build tool writes.
    fn from_str(s: &str) -> Result<Filename, FilenameError> {
        split_filename(s)?;
        Ok(Filename(s.to_owned()))
    }
}

impl fmt::Display for Filename {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn split_filename(s: &str) -> Result<Parts<'_>, FilenameError> {
    if s.is_empty() {
        return Err(FilenameError::Empty);
    }
    if s.len() > MAX_FILENAME_LEN {
        return Err(FilenameError::TooLong { len: s.len() });
    }
    if let Some((offset, found)) = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!')))
    {
        return Err(FilenameError::ForbiddenCharacter { found, offset });
    }
    if let Some(stem) = s.strip_suffix(".whl") {
        split_wheel(stem)
    } else if let Some(stem) = s.strip_suffix(".tar.gz").or_else(|| s.strip_suffix(".zip")) {
        split_sdist(stem)
    } else {
        Err(FilenameError::UnknownExtension)
    }
}

fn split_wheel(stem: &str) -> Result<Parts<'_>, FilenameError> {
    let components: Vec<&str> = stem.split('-').collect();
    let (name, version, build, tags) = match components.as_slice() {
        [n, v, py, abi, plat] => (*n, *v, None, [*py, *abi, *plat]),
        [n, v, b, py, abi, plat] => (*n, *v, Some(*b), [*py, *abi, *plat]),
        _ => {
            return Err(FilenameError::WheelComponents {
                found: components.len(),
            });
        }
    };
    check_name(name)?;
    check_version(version)?;
    if let Some(tag) = build {
        let ok = tag.starts_with(|c: char| c.is_ascii_digit())
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
        if !ok {
            return Err(FilenameError::InvalidBuildTag {
                tag: tag.to_owned(),
            });
        }
    }
    for (which, tag) in ["python", "abi", "platform"].into_iter().zip(tags) {
        let ok = tag.split('.').all(|one| {
            !one.is_empty()
                && one.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !ARCHIVE_EXTENSIONS
                    .iter()
                    .any(|ext| one.eq_ignore_ascii_case(ext))
        });
        if !ok {
            return Err(FilenameError::InvalidTag {
                which,
                tag: tag.to_owned(),
            });
        }
    }
    Ok(Parts {
        kind: DistributionKind::Wheel,
        name,
        version,
        build,
        tags,
    })
}

fn split_sdist(stem: &str) -> Result<Parts<'_>, FilenameError> {
    // Versions never contain `-` (PEP 440), so the version follows the last one; legacy
    // names may contain more.
    let (name, version) = stem
        .rsplit_once('-')
        .ok_or(FilenameError::SdistMissingVersion)?;
    check_name(name)?;
    check_version(version)?;
    Ok(Parts {
        kind: DistributionKind::Sdist,
        name,
        version,
        build: None,
        tags: ["", "", ""],
    })
}

/// PEP 508 project names: letters, digits and `._-`, starting and ending alphanumeric.
/// The caller has already limited the character set; `+` and `!` are not name characters.
fn check_name(name: &str) -> Result<(), FilenameError> {
    let ok = starts_and_ends_alphanumeric(name)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(FilenameError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn check_version(version: &str) -> Result<(), FilenameError> {
    match normalize_version(version) {
        Ok(_) => Ok(()),
        Err(_) => Err(FilenameError::InvalidVersion {
            version: version.to_owned(),
        }),
    }
}

/// Extensions of distribution archives: never a wheel tag.
const ARCHIVE_EXTENSIONS: [&str; 10] = [
    "whl", "zip", "tar", "gz", "tgz", "bz2", "xz", "egg", "exe", "msi",
];

fn starts_and_ends_alphanumeric(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One named test per row: `name => input, expected project name`.
    macro_rules! valid_filenames {
        ($($test:ident => $input:expr, $project:expr, $kind:ident;)*) => {$(
            #[test]
            fn $test() {
                let f: Filename = $input.parse().expect("should be accepted");
                assert_eq!(f.as_str(), $input);
                assert_eq!(f.to_string(), $input);
                assert_eq!(f.project_name(), $project);
                assert_eq!(f.kind(), DistributionKind::$kind);
            }
        )*};
    }

    valid_filenames! {
        real_numpy_manylinux => "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "numpy", Wheel;
        real_requests_wheel => "requests-2.32.3-py3-none-any.whl", "requests", Wheel;
        real_django_sdist => "Django-5.1.tar.gz", "django", Sdist;
        real_zope_interface_sdist => "zope.interface-7.0.3.tar.gz", "zope-interface", Sdist;
        real_typing_extensions => "typing_extensions-4.12.2-py3-none-any.whl", "typing-extensions", Wheel;
        real_dateutil_py2_py3 => "python_dateutil-2.9.0.post0-py2.py3-none-any.whl", "python-dateutil", Wheel;
        real_legacy_hyphenated_sdist => "python-dateutil-2.8.2.tar.gz", "python-dateutil", Sdist;
        real_legacy_zip_sdist => "pywin32-ctypes-0.2.0.zip", "pywin32-ctypes", Sdist;
        real_win_wheel => "cryptography-43.0.1-cp39-abi3-win_amd64.whl", "cryptography", Wheel;
        real_macos_universal2 => "pydantic_core-2.23.4-cp313-cp313-macosx_10_12_x86_64.macosx_11_0_arm64.macosx_10_12_universal2.whl", "pydantic-core", Wheel;
        real_pypy_wheel => "PyYAML-6.0.2-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", "pyyaml", Wheel;
        real_prerelease => "urllib3-2.0.0a1-py3-none-any.whl", "urllib3", Wheel;
        build_tag => "distribution-1.0-1-py27-none-any.whl", "distribution", Wheel;
        build_tag_with_suffix => "foo-1.0-2b-py3-none-any.whl", "foo", Wheel;
        epoch_version => "foo-1!2.0.tar.gz", "foo", Sdist;
        local_version => "torch-2.4.0+cpu-cp312-cp312-linux_x86_64.whl", "torch", Wheel;
        one_char_name => "a-1.tar.gz", "a", Sdist;
        mixed_separators => "Foo._-Bar-1.0.tar.gz", "foo-bar", Sdist;
    }

    /// One named test per row: `name => input, expected error pattern`.
    macro_rules! invalid_filenames {
        ($($test:ident => $input:expr, $err:pat,)*) => {$(
            #[test]
            fn $test() {
                let got = $input.parse::<Filename>();
                assert!(matches!(got, Err($err)), "{:?} gave {:?}", $input, got);
            }
        )*};
    }

    invalid_filenames! {
        empty => "", FilenameError::Empty,
        slash => "../requests-2.32.3-py3-none-any.whl", FilenameError::ForbiddenCharacter { found: '/', .. },
        backslash => "a\\requests-2.32.3-py3-none-any.whl", FilenameError::ForbiddenCharacter { found: '\\', .. },
        dot_dot => "..", FilenameError::UnknownExtension,
        dot_dot_name => "..-1.0.tar.gz", FilenameError::InvalidName { .. },
        leading_dot_name => ".foo-1.0.tar.gz", FilenameError::InvalidName { .. },
        space => "requests 2.32.3-py3-none-any.whl", FilenameError::ForbiddenCharacter { found: ' ', .. },
        tab => "requests-2.32.3-py3-none-any.whl\t", FilenameError::ForbiddenCharacter { found: '\t', .. },
        newline => "requests-2.32.3-py3-none-any.whl\n", FilenameError::ForbiddenCharacter { found: '\n', .. },
        carriage_return => "Django-5.1.tar.gz\r", FilenameError::ForbiddenCharacter { found: '\r', .. },
        nul => "Django-5.1\0.tar.gz", FilenameError::ForbiddenCharacter { found: '\0', .. },
        non_ascii => "dj\u{e4}ngo-5.1.tar.gz", FilenameError::ForbiddenCharacter { .. },
        missing_tags => "requests-2.32.3-py3-none.whl", FilenameError::WheelComponents { found: 4 },
        too_many_components => "a-1-1-py3-none-any-x.whl", FilenameError::WheelComponents { found: 7 },
        wrong_extension => "requests-2.32.3.tar.bz2", FilenameError::UnknownExtension,
        egg => "requests-2.32.3-py3.8.egg", FilenameError::UnknownExtension,
        bare_whl => ".whl", FilenameError::WheelComponents { found: 1 },
        sdist_without_version => "Django.tar.gz", FilenameError::SdistMissingVersion,
        sdist_version_without_digit => "python-dateutil.tar.gz", FilenameError::InvalidVersion { .. },
        empty_version => "Django-.tar.gz", FilenameError::InvalidVersion { .. },
        build_tag_not_digit => "foo-1.0-b1-py3-none-any.whl", FilenameError::InvalidBuildTag { .. },
        empty_compressed_tag => "foo-1.0-py2..py3-none-any.whl", FilenameError::InvalidTag { which: "python", .. },
        empty_platform => "foo-1.0-py3-none-.whl", FilenameError::InvalidTag { which: "platform", .. },
        plus_in_tag => "foo-1.0-py3-none-any+x.whl", FilenameError::InvalidTag { which: "platform", .. },
        bang_in_name => "fo!o-1.0.tar.gz", FilenameError::InvalidName { .. },
        issue_19_stacked_sdist_extensions => "x-1.0.tar.gz.zip", FilenameError::InvalidVersion { .. },
        issue_19_stacked_wheel_extensions => "x-1.0-py3-none-any.whl.whl", FilenameError::InvalidTag { which: "platform", .. },
        issue_19_stacked_zip_in_tag => "x-1.0-py3-none-any.zip.whl", FilenameError::InvalidTag { which: "platform", .. },
        issue_19_empty_release_segment => "x-1..0.tar.gz", FilenameError::InvalidVersion { .. },
        not_pep_440_version => "x-1.0foo.tar.gz", FilenameError::InvalidVersion { .. },
    }

    #[test]
    fn too_long_filename() {
        let name = format!("{}-1.0.tar.gz", "a".repeat(MAX_FILENAME_LEN));
        assert_eq!(
            name.parse::<Filename>(),
            Err(FilenameError::TooLong { len: name.len() })
        );
        let longest = format!("{}-1.0.tar.gz", "a".repeat(MAX_FILENAME_LEN - 11));
        assert_eq!(longest.len(), MAX_FILENAME_LEN);
        assert!(longest.parse::<Filename>().is_ok());
    }

    #[test]
    fn filename_components() {
        let f: Filename = "zope.interface-7.0.3.tar.gz".parse().unwrap();
        assert_eq!(f.distribution(), "zope.interface");
        assert_eq!(f.version(), "7.0.3");
        let f: Filename = "distribution-1.0-1-py27-none-any.whl".parse().unwrap();
        assert_eq!(f.distribution(), "distribution");
        assert_eq!(f.version(), "1.0");
    }

    #[test]
    fn normalize_examples_from_pep_503() {
        assert_eq!(normalize_project_name("HolyGrail"), "holygrail");
        assert_eq!(normalize_project_name("a.-_b"), "a-b");
        assert_eq!(normalize_project_name("A__B..C"), "a-b-c");
    }
}
