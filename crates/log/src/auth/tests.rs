use super::*;
use std::os::unix::fs::PermissionsExt;

fn rng() -> rand::rngs::StdRng {
    use rand::SeedableRng;
    rand::rngs::StdRng::seed_from_u64(7)
}

/// A token added to the file works at once; one removed from it stops working within
/// RECHECK, although accepted tokens no longer stat the file on every request.
#[test]
fn added_tokens_work_at_once_and_removed_ones_stop_within_the_recheck_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let first = add_token(&path, "first", &mut rng()).unwrap();
    let auth = Authenticator::open(&path).unwrap();
    assert_eq!(
        auth.authenticate(first.expose().as_bytes()).as_deref(),
        Some("first")
    );
    let mut other = {
        use rand::SeedableRng;
        rand::rngs::StdRng::seed_from_u64(8)
    };
    let second = add_token(&path, "second", &mut other).unwrap();
    assert_eq!(
        auth.authenticate(second.expose().as_bytes()).as_deref(),
        Some("second")
    );
    // Remove `first` (keep only the line of `second`).
    let text = fs::read_to_string(&path).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| l.starts_with("second "))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&path, kept).unwrap();
    std::thread::sleep(RECHECK + Duration::from_millis(100));
    assert_eq!(auth.authenticate(first.expose().as_bytes()), None);
    assert_eq!(
        auth.authenticate(second.expose().as_bytes()).as_deref(),
        Some("second")
    );
}

#[test]
fn add_then_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let token = add_token(&path, "pypi", &mut rng()).unwrap();
    assert!(token.expose().starts_with("bintrail_"));
    assert_eq!(token.expose().len(), 9 + 64);
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(token.expose()),
        "the file must not hold the token"
    );
    let auth = Authenticator::open(&path).unwrap();
    assert_eq!(
        auth.authenticate(token.expose().as_bytes()).as_deref(),
        Some("pypi")
    );
    assert_eq!(auth.authenticate(b"bintrail_00"), None);
}

#[test]
fn duplicate_name_is_refused_and_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    add_token(&path, "a", &mut rng()).unwrap();
    let before = fs::read(&path).unwrap();
    let err = add_token(&path, "a", &mut rng()).unwrap_err();
    assert!(matches!(err, AuthError::DuplicateName { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
}

#[test]
fn invalid_names_are_refused() {
    for name in ["", "a b", "a/b", "é", &"x".repeat(65)] {
        let err = validate_token_name(name).unwrap_err();
        assert!(matches!(err, AuthError::InvalidName { .. }), "{name:?}");
    }
    validate_token_name("ci-upload_2.prod").unwrap();
}

#[test]
fn second_token_is_picked_up_without_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let first = add_token(&path, "first", &mut rng()).unwrap();
    let auth = Authenticator::open(&path).unwrap();
    // Different content length guarantees a different stamp even within one mtime tick.
    let second = add_token(&path, "second", &mut rand::rngs::OsRng).unwrap();
    assert_eq!(
        auth.authenticate(second.expose().as_bytes()).as_deref(),
        Some("second")
    );
    assert_eq!(
        auth.authenticate(first.expose().as_bytes()).as_deref(),
        Some("first")
    );
    assert_eq!(auth.len(), 2);
}

#[test]
fn issue_19_broken_reload_refuses_every_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let token = add_token(&path, "keep", &mut rng()).unwrap();
    let auth = Authenticator::open(&path).unwrap();
    let good = fs::read(&path).unwrap();
    for broken in [
        b"garbage line without digest that is longer\n".to_vec(),
        [b"\xef\xbb\xbf".as_slice(), &good].concat(),
        good.iter()
            .map(|&b| if b == b' ' { b'\t' } else { b })
            .collect(),
    ] {
        fs::write(&path, &broken).unwrap();
        recheck_now(&auth);
        assert_eq!(auth.authenticate(token.expose().as_bytes()), None);
        assert!(auth.is_unusable());
        fs::write(&path, &good).unwrap();
        assert_eq!(
            auth.authenticate(token.expose().as_bytes()).as_deref(),
            Some("keep"),
            "a fixed file is picked up again"
        );
        assert!(!auth.is_unusable());
    }
    fs::remove_file(&path).unwrap();
    recheck_now(&auth);
    assert_eq!(auth.authenticate(token.expose().as_bytes()), None);
    assert!(auth.is_unusable());
}

/// Makes the next accepted token recheck the file, as [`RECHECK`] later would.
fn recheck_now(auth: &Authenticator) {
    let mut checked = auth.checked.lock().unwrap();
    *checked = Instant::now().checked_sub(RECHECK).unwrap_or(*checked);
}

#[test]
fn malformed_lines_are_reported_with_line_numbers() {
    let p = Path::new("t");
    let cases = [
        ("noname\n", 1),
        ("# c\n\nx sha1:00\n", 3),
        ("x sha256:zz\n", 1),
        ("bad/name sha256:00\n", 1),
    ];
    for (text, line) in cases {
        match parse_tokens(p, text) {
            Err(AuthError::Malformed { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn bearer_header_parsing() {
    assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
    assert_eq!(bearer_token(b"bearer  abc "), Some(&b"abc"[..]));
    assert_eq!(bearer_token(b"Basic abc"), None);
    assert_eq!(bearer_token(b"Bearer "), None);
    assert_eq!(bearer_token(b"Bear"), None);
    let long = [b"Bearer ".as_slice(), &[b'a'; MAX_TOKEN_LEN + 1]].concat();
    assert_eq!(bearer_token(&long), None);
}

#[test]
fn token_debug_is_redacted() {
    let token = Token::generate(&mut rng());
    assert_eq!(format!("{token:?}"), "Token(<redacted>)");
}

// Issue 8: a property run over the Authorization header parser.
proptest::proptest! {
    #[test]
    fn bearer_token_takes_any_header(header in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        if let Some(token) = bearer_token(&header) {
            // A token is what follows the scheme, trimmed, never empty.
            proptest::prop_assert!(header.len() > 7);
            proptest::prop_assert!(header[..7].eq_ignore_ascii_case(b"bearer "));
            proptest::prop_assert!(!token.is_empty());
            proptest::prop_assert_eq!(token, header[7..].trim_ascii());
        }
    }
}
