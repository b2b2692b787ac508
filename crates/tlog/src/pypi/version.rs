//! PEP 440 version normalization.

/// Why [`normalize_version`] rejected its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Returned when the text is not a version under PEP 440's grammar (the regular
    /// expression of PEP 440 Appendix B, as `packaging.version.VERSION_PATTERN` writes it).
    #[error("{version:?} is not a PEP 440 version")]
    NotPep440 {
        /// The rejected text.
        version: String,
    },
}

/// Normalizes a PEP 440 version, as `packaging.utils.canonicalize_version(v,
/// strip_trailing_zero=False)` does, or rejects it.
///
/// The rules applied (PEP 440, "Normalization"):
/// - case-insensitive: the result is lowercase;
/// - a leading `v` is dropped (`v1.0` → `1.0`);
/// - every number loses its leading zeros (`1.00` → `1.0`, `01!2` → `1!2`, `1.0rc01` →
///   `1.0rc1`); numbers are kept as digit strings, so any length is accepted;
/// - an epoch of `0` is dropped (`0!1.0` → `1.0`);
/// - pre-release spellings become `a`, `b`, `rc` (`alpha`, `beta`, `c`, `pre`,
///   `preview`), with the separators around them removed and an implicit `0` made
///   explicit (`1.0-Alpha.1` → `1.0a1`, `1.0b` → `1.0b0`);
/// - post-releases become `.postN` (`1.0-1`, `1.0_r1`, `1.0rev1`, `1.0.post` → `1.0.post1`,
///   `1.0.post0`), development releases `.devN` (`1.0-dev` → `1.0.dev0`);
/// - local versions keep their segments, lowercased, joined by `.` instead of `-` or `_`,
///   numeric segments without leading zeros (`1.0+Ubuntu-01` → `1.0+ubuntu.1`).
///
/// Not applied, on purpose: trailing zeros of the release segment are kept (`1.0` stays
/// `1.0`, not `1`), as `canonicalize_version(..., strip_trailing_zero=False)` does; PEP
/// 440 compares `1` and `1.0` equal, but they are spelled differently in filenames and
/// in the draft PEP's `/transparency/{project}/{version}/...` paths. Surrounding
/// whitespace, which `packaging` strips, is rejected: no filename or URL path holds it.
///
/// Errors: [`VersionError::NotPep440`] for anything the grammar does not accept (an
/// empty string, `1..0`, `1.0.tar.gz`, `1.0-foo`).
///
/// ```
/// use bintrail_tlog::pypi::normalize_version;
///
/// assert_eq!(normalize_version("1.00").unwrap(), "1.0");
/// assert_eq!(normalize_version("V1.0-RC.2_post-3.DEV4+Local_01").unwrap(), "1.0rc2.post3.dev4+local.1");
/// assert!(normalize_version("1..0").is_err());
/// ```
pub fn normalize_version(version: &str) -> Result<String, VersionError> {
    parse(version).ok_or_else(|| VersionError::NotPep440 {
        version: version.to_owned(),
    })
}

/// Parses and formats in one pass; `None` when the grammar does not match.
fn parse(version: &str) -> Option<String> {
    let lower = version.to_ascii_lowercase();
    let mut p = Cursor {
        s: lower.as_bytes(),
        at: 0,
    };
    let mut out = String::with_capacity(version.len() + 8);
    p.eat(b"v");
    // Epoch: digits followed by `!`; otherwise the digits start the release.
    let start = p.at;
    if let Some(epoch) = p.digits() {
        if p.eat(b"!") {
            let epoch = strip_zeros(epoch);
            if epoch != "0" {
                out.push_str(epoch);
                out.push('!');
            }
        } else {
            p.at = start;
        }
    }
    out.push_str(strip_zeros(p.digits()?));
    // Release segments are joined by `.` only (`1-1` is a post-release).
    while p.s.get(p.at) == Some(&b'.') && p.s.get(p.at + 1).is_some_and(u8::is_ascii_digit) {
        p.at += 1;
        out.push('.');
        out.push_str(strip_zeros(p.digits()?));
    }
    pre_release(&mut p, &mut out);
    post_release(&mut p, &mut out);
    dev_release(&mut p, &mut out);
    if p.eat(b"+") {
        local(&mut p, &mut out)?;
    }
    (p.at == p.s.len()).then_some(out)
}

/// `[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?[0-9]*`
fn pre_release(p: &mut Cursor<'_>, out: &mut String) {
    const LABELS: [(&[u8], &str); 8] = [
        (b"alpha", "a"),
        (b"a", "a"),
        (b"beta", "b"),
        (b"b", "b"),
        (b"preview", "rc"),
        (b"pre", "rc"),
        (b"rc", "rc"),
        (b"c", "rc"),
    ];
    let start = p.at;
    p.separator();
    // Longest label first: `alpha` before `a`, `preview` before `pre`.
    match LABELS.iter().find(|(label, _)| p.eat(label)) {
        Some((_, canonical)) => {
            out.push_str(canonical);
            out.push_str(number(p));
        }
        None => p.at = start,
    }
}

/// `-[0-9]+` or `[-_.]?(post|rev|r)[-_.]?[0-9]*`
fn post_release(p: &mut Cursor<'_>, out: &mut String) {
    let start = p.at;
    if p.eat(b"-")
        && let Some(n) = p.digits()
    {
        out.push_str(".post");
        out.push_str(strip_zeros(n));
        return;
    }
    p.at = start;
    p.separator();
    if p.eat(b"post") || p.eat(b"rev") || p.eat(b"r") {
        out.push_str(".post");
        out.push_str(number(p));
    } else {
        p.at = start;
    }
}

/// `[-_.]?dev[-_.]?[0-9]*`
fn dev_release(p: &mut Cursor<'_>, out: &mut String) {
    let start = p.at;
    p.separator();
    if p.eat(b"dev") {
        out.push_str(".dev");
        out.push_str(number(p));
    } else {
        p.at = start;
    }
}

/// `[a-z0-9]+([-_.][a-z0-9]+)*` after the `+`.
fn local(p: &mut Cursor<'_>, out: &mut String) -> Option<()> {
    out.push('+');
    loop {
        let segment = p.take_while(|b| b.is_ascii_alphanumeric());
        if segment.is_empty() {
            return None;
        }
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(strip_zeros(segment));
        } else {
            out.push_str(segment);
        }
        if p.at == p.s.len() {
            return Some(());
        }
        if !p.separator() {
            return None;
        }
        out.push('.');
    }
}

/// The optional `[-_.]?[0-9]*` after a label: the number without leading zeros, `0`
/// when absent. A separator not followed by digits is left for the next part.
fn number<'a>(p: &mut Cursor<'a>) -> &'a str {
    if let Some(n) = p.digits() {
        return strip_zeros(n);
    }
    if let Some(n) = p.peek_sep_then(|p| p.digits()) {
        p.at += 1 + n.len();
        return strip_zeros(n);
    }
    "0"
}

fn strip_zeros(digits: &str) -> &str {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }
}

/// A position in the lowercased version text.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Consumes `lit` if the text continues with it.
    fn eat(&mut self, lit: &[u8]) -> bool {
        let found = self.s[self.at..].starts_with(lit);
        if found {
            self.at += lit.len();
        }
        found
    }

    /// Consumes one of `-`, `_`, `.`.
    fn separator(&mut self) -> bool {
        let found = matches!(self.s.get(self.at), Some(b'-' | b'_' | b'.'));
        if found {
            self.at += 1;
        }
        found
    }

    /// One or more ASCII digits, consumed; `None` (nothing consumed) when there are none.
    fn digits(&mut self) -> Option<&'a str> {
        let d = self.take_while(|b| b.is_ascii_digit());
        (!d.is_empty()).then_some(d)
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.at;
        while self.s.get(self.at).is_some_and(|&b| keep(b)) {
            self.at += 1;
        }
        // The text is ASCII-lowercased UTF-8 and the predicates accept only ASCII
        // bytes, so the range ends on character boundaries.
        std::str::from_utf8(&self.s[start..self.at]).unwrap_or("")
    }

    /// What `then` reads after one separator, without consuming anything.
    fn peek_sep_then<T>(&mut self, then: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.at;
        let got = if self.separator() { then(self) } else { None };
        self.at = start;
        got
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One named test per row: `name => input, normalized`.
    macro_rules! normalizes {
        ($($test:ident => $input:expr, $want:expr;)*) => {$(
            #[test]
            fn $test() {
                assert_eq!(normalize_version($input).as_deref(), Ok($want));
                assert_eq!(normalize_version($want).as_deref(), Ok($want), "not a fixed point");
            }
        )*};
    }

    normalizes! {
        plain => "1.0", "1.0";
        trailing_zeros_kept => "1.0.0", "1.0.0";
        leading_zeros => "01.00.010", "1.0.10";
        one_segment => "2024", "2024";
        leading_v => "v1.0", "1.0";
        upper_v => "V1.0", "1.0";
        epoch => "1!2.0", "1!2.0";
        zero_epoch_dropped => "0!2.0", "2.0";
        epoch_leading_zeros => "007!1", "7!1";
        alpha => "1.0alpha1", "1.0a1";
        a_with_separators => "1.0-a.1", "1.0a1";
        beta_implicit_zero => "1.0beta", "1.0b0";
        c_is_rc => "1.0c3", "1.0rc3";
        pre_is_rc => "1.0pre2", "1.0rc2";
        preview_is_rc => "1.0preview2", "1.0rc2";
        rc_upper => "1.0RC1", "1.0rc1";
        pre_leading_zeros => "1.0rc01", "1.0rc1";
        implicit_post => "1.0-1", "1.0.post1";
        post_underscore => "1.0_post_2", "1.0.post2";
        rev => "1.0rev3", "1.0.post3";
        r => "1.0r3", "1.0.post3";
        post_implicit_zero => "1.0.post", "1.0.post0";
        dev => "1.0.dev4", "1.0.dev4";
        dev_dash => "1.0-dev", "1.0.dev0";
        dev_no_separator => "1.0dev2", "1.0.dev2";
        everything => "V1!01.02-ALPHA-03_post-04.DEV-05+Local_01-X", "1!1.2a3.post4.dev5+local.1.x";
        pre_then_post_dot => "1.0a.post1", "1.0a0.post1";
        local_numeric => "1.0+001", "1.0+1";
        local_mixed => "2.4.0+cpu", "2.4.0+cpu";
        huge_number => "1.99999999999999999999999999999", "1.99999999999999999999999999999";
    }

    /// One named test per row: input the grammar rejects.
    macro_rules! rejects {
        ($($test:ident => $input:expr;)*) => {$(
            #[test]
            fn $test() {
                assert_eq!(
                    normalize_version($input),
                    Err(VersionError::NotPep440 { version: $input.to_owned() })
                );
            }
        )*};
    }

    rejects! {
        empty => "";
        only_v => "v";
        double_dot => "1..0";
        trailing_dot => "1.0.";
        leading_dot => ".1";
        stacked_extension => "1.0.tar.gz";
        legacy_word => "1.0-foo";
        empty_local => "1.0+";
        local_double_separator => "1.0+a..b";
        local_trailing_separator => "1.0+a.";
        two_epochs => "1!2!3";
        whitespace => " 1.0";
        non_ascii => "1.0\u{661}";
        word => "latest";
        bang_without_epoch => "!1.0";
    }
}
