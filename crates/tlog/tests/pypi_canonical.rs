//! Laws of the PyPI identifier canonicalization (issue 19, item 6), on generated names:
//! every spelling of one (project, version, kind, tags) gets one identifier, and
//! different ones never share it.

use bintrail_tlog::pypi::{Filename, normalize_project_name, normalize_version};
use proptest::prelude::*;

/// A project as PEP 503 normalizes it: lowercase alphanumeric words joined by `-`.
fn project() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z0-9]{1,5}", 1..4)
}

/// A version as parts: epoch, release numbers, pre (label index, number), post, dev, local.
#[derive(Debug, Clone)]
struct Version {
    epoch: u32,
    release: Vec<u32>,
    pre: Option<(usize, u32)>,
    post: Option<u32>,
    dev: Option<u32>,
}

fn version() -> impl Strategy<Value = Version> {
    (
        prop::option::weighted(0.2, 1u32..5),
        prop::collection::vec(0u32..1000, 1..4),
        prop::option::of((0usize..3, 0u32..20)),
        prop::option::of(0u32..20),
        prop::option::of(0u32..20),
    )
        .prop_map(|(epoch, release, pre, post, dev)| Version {
            epoch: epoch.unwrap_or(0),
            release,
            pre,
            post,
            dev,
        })
}

impl Version {
    /// The normal form PEP 440 defines.
    fn normal(&self) -> String {
        let mut s = String::new();
        if self.epoch != 0 {
            s += &format!("{}!", self.epoch);
        }
        let release: Vec<String> = self.release.iter().map(u32::to_string).collect();
        s += &release.join(".");
        if let Some((label, n)) = self.pre {
            s += &format!("{}{n}", ["a", "b", "rc"][label]);
        }
        if let Some(n) = self.post {
            s += &format!(".post{n}");
        }
        if let Some(n) = self.dev {
            s += &format!(".dev{n}");
        }
        s
    }

    /// Another spelling of the same version, chosen by `choice`: leading zeros, a `v`,
    /// other labels and separators, other case. Never uses `-` (not allowed in filenames).
    fn spelled(&self, choice: &Spelling) -> String {
        let mut s = String::new();
        if choice.v {
            s += "V";
        }
        if self.epoch != 0 || choice.zero_epoch {
            s += &format!("{}{}!", "0".repeat(choice.zeros), self.epoch);
        }
        let release: Vec<String> = self
            .release
            .iter()
            .map(|n| format!("{}{n}", "0".repeat(choice.zeros)))
            .collect();
        s += &release.join(".");
        let sep = ["", ".", "_"][choice.sep];
        if let Some((label, n)) = self.pre {
            let spellings: [&[&str]; 3] = [
                &["a", "alpha", "A"],
                &["b", "beta", "BETA"],
                &["rc", "c", "pre", "preview", "RC"],
            ];
            let names = spellings[label];
            s += &format!("{sep}{}{sep}{n}", names[choice.label % names.len()]);
        }
        if let Some(n) = self.post {
            let names = ["post", "rev", "r", "POST"];
            s += &format!("{sep}{}{sep}{n}", names[choice.label % names.len()]);
        }
        if let Some(n) = self.dev {
            s += &format!("{sep}{}{}", ["dev", "DEV"][choice.label % 2], n);
        }
        s
    }
}

#[derive(Debug, Clone)]
struct Spelling {
    v: bool,
    zero_epoch: bool,
    zeros: usize,
    sep: usize,
    label: usize,
    name_sep: usize,
    upper: bool,
    zip: bool,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        any::<bool>(),
        any::<bool>(),
        0usize..3,
        0usize..3,
        0usize..5,
        0usize..4,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(v, zero_epoch, zeros, sep, label, name_sep, upper, zip)| Spelling {
                v,
                zero_epoch,
                zeros,
                sep,
                label,
                name_sep,
                upper,
                zip,
            },
        )
}

fn spell_project(words: &[String], choice: &Spelling, wheel: bool) -> String {
    // Wheels escape `-` in names (binary distribution format); sdists may keep it.
    let seps: &[&str] = if wheel {
        &["_", ".", "__", "._"]
    } else {
        &["-", "_", ".", "-_."]
    };
    let name = words.join(seps[choice.name_sep % seps.len()]);
    if choice.upper {
        name.to_ascii_uppercase()
    } else {
        name
    }
}

fn sdist(words: &[String], v: &Version, choice: &Spelling) -> String {
    let ext = if choice.zip { "zip" } else { "tar.gz" };
    format!(
        "{}-{}.{ext}",
        spell_project(words, choice, false),
        v.spelled(choice)
    )
}

fn wheel(words: &[String], v: &Version, choice: &Spelling, tags: &str) -> String {
    format!(
        "{}-{}-{tags}.whl",
        spell_project(words, choice, true),
        v.spelled(choice)
    )
}

fn id(name: &str) -> String {
    name.parse::<Filename>()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .canonical()
        .to_string()
}

proptest! {
    #[test]
    fn any_spelling_normalizes_to_the_normal_form(v in version(), choice in spelling()) {
        prop_assert_eq!(normalize_version(&v.spelled(&choice)), Ok(v.normal()));
        prop_assert_eq!(normalize_version(&v.normal()), Ok(v.normal()));
    }

    #[test]
    fn sdist_aliases_share_one_identifier(words in project(), v in version(), a in spelling(), b in spelling()) {
        let want = format!("sdist {} {}", words.join("-"), v.normal());
        prop_assert_eq!(id(&sdist(&words, &v, &a)), want.clone());
        prop_assert_eq!(id(&sdist(&words, &v, &b)), want);
    }

    #[test]
    fn wheel_aliases_share_one_identifier(
        words in project(), v in version(), a in spelling(), b in spelling(),
        tags in prop::sample::select(vec![("py3-none-any", "py3-none-any"), ("PY2.py3-none-ANY", "py2.py3-none-any"), ("cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_17_x86_64")]),
    ) {
        let want = format!("wheel {} {} {}", words.join("-"), v.normal(), tags.1);
        prop_assert_eq!(id(&wheel(&words, &v, &a, tags.0)), want.clone());
        prop_assert_eq!(id(&wheel(&words, &v, &b, tags.1)), want);
    }

    #[test]
    fn different_releases_never_collide(
        w1 in project(), v1 in version(), w2 in project(), v2 in version(), a in spelling(), b in spelling(),
    ) {
        let same = normalize_project_name(&w1.join("-")) == normalize_project_name(&w2.join("-"))
            && v1.normal() == v2.normal();
        prop_assert_eq!(id(&sdist(&w1, &v1, &a)) == id(&sdist(&w2, &v2, &b)), same);
        prop_assert_ne!(id(&sdist(&w1, &v1, &a)), id(&wheel(&w2, &v2, &b, "py3-none-any")));
    }

    #[test]
    fn normalizing_never_panics_and_is_idempotent(text in "[0-9a-zA-Z.!+_-]{0,24}") {
        if let Ok(v) = normalize_version(&text) {
            prop_assert_eq!(normalize_version(&v), Ok(v.clone()));
        }
    }
}
