use super::*;
use crate::cosignature::cosign;
use crate::hash::Hash;
use crate::note::Signer;

const ORIGIN: &str = "example.com/log";

fn log_signer(seed: u8) -> Signer {
    Signer::generate(ORIGIN, KeyType::Ed25519, [seed; 32]).unwrap()
}

fn witness_signer(name: &str, seed: u8) -> Signer {
    Signer::generate(name, KeyType::CosignatureV1, [seed; 32]).unwrap()
}

/// Six witnesses X1..X3 (seeds 11..13) and Y1..Y3 (seeds 21..23).
fn six_witnesses() -> Vec<(&'static str, Signer)> {
    [
        ("X1", 11),
        ("X2", 12),
        ("X3", 13),
        ("Y1", 21),
        ("Y2", 22),
        ("Y3", 23),
    ]
    .into_iter()
    .map(|(name, seed)| (name, witness_signer(&format!("{name}.example"), seed)))
    .collect()
}

/// The example policy of the tlog-policy spec, with real keys and comments.
fn spec_example() -> String {
    let w = six_witnesses();
    let key = |i: usize| w[i].1.verifier().to_string();
    format!(
        "log {log}\n\
         \n\
         witness X1 {}\n\
         witness X2 {}\n\
         witness X3 {}\n\
         group X-witnesses 2 X1 X2 X3\n\
         \n\
         witness Y1 {}\n\
         witness Y2 {}\n\
         witness Y3 {}\n\
         group Y-witnesses any Y1 Y2 Y3\n\
         \n\
         group X-and-Y all X-witnesses Y-witnesses\n\
         quorum X-and-Y\n",
        key(0),
        key(1),
        key(2),
        key(3),
        key(4),
        key(5),
        log = log_signer(1).verifier(),
    )
}

/// Whether the spec example's quorum is met by the named witnesses.
fn example_met(names: &[&str]) -> bool {
    let policy: Policy = spec_example().parse().unwrap();
    let verifiers: Vec<Verifier> = six_witnesses()
        .into_iter()
        .filter(|(name, _)| names.contains(name))
        .map(|(_, s)| s.verifier())
        .collect();
    let refs: Vec<&Verifier> = verifiers.iter().collect();
    policy.quorum_met(&refs)
}

#[test]
fn spec_example_parses() {
    let policy: Policy = spec_example().parse().unwrap();
    assert_eq!(policy.logs.len(), 1);
    assert_eq!(policy.logs[0].verifier.name(), ORIGIN);
    assert_eq!(policy.witnesses.len(), 6);
    assert_eq!(policy.witnesses[3].name, "Y1");
    assert_eq!(policy.groups.len(), 3);
    assert_eq!(policy.groups[0].threshold, Threshold::AtLeast(2));
    assert_eq!(policy.groups[1].threshold, Threshold::Any);
    assert_eq!(policy.groups[2].threshold, Threshold::All);
    assert_eq!(policy.groups[2].members, ["X-witnesses", "Y-witnesses"]);
    assert_eq!(policy.quorum, Quorum::Named("X-and-Y".into()));
}

macro_rules! example_quorum {
    ($($test:ident => $names:expr, $met:expr;)*) => {$(
        #[test]
        fn $test() {
            assert_eq!(example_met(&$names), $met);
        }
    )*};
}

example_quorum! {
    quorum_nobody => [], false;
    quorum_two_x_one_y => ["X1", "X3", "Y2"], true;
    quorum_three_x_three_y => ["X1", "X2", "X3", "Y1", "Y2", "Y3"], true;
    quorum_one_x_one_y => ["X2", "Y1"], false;
    quorum_two_x_no_y => ["X1", "X2"], false;
    quorum_all_y_one_x => ["X3", "Y1", "Y2", "Y3"], false;
    quorum_all_y_two_x => ["X2", "X3", "Y1", "Y2", "Y3"], true;
}

#[test]
fn quorum_ignores_unknown_and_lookalike_keys() {
    let policy: Policy = spec_example().parse().unwrap();
    // Same names as X1 and X2, different keys: they must not count.
    let fake1 = witness_signer("X1.example", 99).verifier();
    let fake2 = witness_signer("X2.example", 98).verifier();
    let y1 = six_witnesses()[3].1.verifier();
    assert!(!policy.quorum_met(&[&fake1, &fake2, &y1]));
}

#[test]
fn quorum_none_is_always_met() {
    let text = format!("log {}\nquorum none\n", log_signer(1).verifier());
    let policy: Policy = text.parse().unwrap();
    assert_eq!(policy.quorum, Quorum::None);
    assert!(policy.quorum_met(&[]));
    assert_eq!(policy.to_string(), text);
}

#[test]
fn quorum_single_witness() {
    let w = witness_signer("w.example", 5);
    let text = format!("witness W {}\nquorum W\n", w.verifier());
    let policy: Policy = text.parse().unwrap();
    assert!(policy.logs.is_empty(), "a policy without logs is allowed");
    assert!(!policy.quorum_met(&[]));
    assert!(policy.quorum_met(&[&w.verifier()]));
}

#[test]
fn hand_built_broken_groups_are_never_met() {
    let w = witness_signer("w.example", 5);
    let policy = Policy {
        logs: vec![],
        witnesses: vec![PolicyWitness {
            name: "W".into(),
            verifier: w.verifier(),
            url: None,
        }],
        groups: vec![
            PolicyGroup {
                name: "zero".into(),
                threshold: Threshold::AtLeast(0),
                members: vec![],
            },
            PolicyGroup {
                name: "forward".into(),
                threshold: Threshold::Any,
                members: vec!["later".into()],
            },
            PolicyGroup {
                name: "later".into(),
                threshold: Threshold::Any,
                members: vec!["W".into()],
            },
        ],
        quorum: Quorum::Named("zero".into()),
    };
    assert!(!policy.quorum_met(&[&w.verifier()]));
    let forward = Policy {
        quorum: Quorum::Named("forward".into()),
        ..policy.clone()
    };
    assert!(!forward.quorum_met(&[&w.verifier()]));
    let later = Policy {
        quorum: Quorum::Named("later".into()),
        ..policy
    };
    assert!(later.quorum_met(&[&w.verifier()]));
}

#[test]
fn display_is_canonical_and_round_trips() {
    let w = six_witnesses();
    let text = format!(
        "  # leading comment, then odd spacing\n\
         witness\tA {}   https://a.example/\n\
         log {} https://log.example/\n\
         \t\n\
         group g 1 A\n\
         quorum g\t\n",
        w[0].1.verifier(),
        log_signer(1).verifier(),
    );
    let policy: Policy = text.parse().unwrap();
    assert_eq!(policy.logs[0].url.as_deref(), Some("https://log.example/"));
    assert_eq!(
        policy.witnesses[0].url.as_deref(),
        Some("https://a.example/")
    );
    let canonical = policy.to_string();
    assert_eq!(
        canonical,
        format!(
            "log {} https://log.example/\nwitness A {} https://a.example/\ngroup g 1 A\nquorum g\n",
            log_signer(1).verifier(),
            w[0].1.verifier()
        )
    );
    assert_eq!(canonical.parse::<Policy>().unwrap(), policy);
    let example: Policy = spec_example().parse().unwrap();
    assert_eq!(example.to_string().parse::<Policy>().unwrap(), example);
}

#[test]
fn keywords_other_than_none_are_names() {
    // The same case as transparency-dev's Go policy tests: only `none` is reserved.
    let policy: Policy =
        fill("witness all {w1}\nwitness any {w2}\ngroup group 2 all any\nquorum group\n")
            .parse()
            .unwrap();
    assert_eq!(policy.groups[0].name, "group");
    assert_eq!(policy.groups[0].members, ["all", "any"]);
    assert_eq!(policy.to_string().parse::<Policy>().unwrap(), policy);
}

#[test]
fn missing_final_newline_is_accepted() {
    let w = witness_signer("w.example", 5);
    let text = format!("witness W {}\nquorum W", w.verifier());
    assert!(text.parse::<Policy>().is_ok());
}

#[test]
fn high_bit_octets_in_comments_names_and_urls() {
    let w = witness_signer("w.example", 5);
    let mut bytes = b"# \xff\xfe not UTF-8, but a comment\n".to_vec();
    bytes.extend_from_slice(
        format!(
            "witness K\u{212a} {} https://b\u{fc}cher.example/\nquorum K\u{212a}\n",
            w.verifier()
        )
        .as_bytes(),
    );
    let policy = Policy::parse(&bytes).unwrap();
    assert_eq!(policy.witnesses[0].name, "K\u{212a}");
    // Names are opaque octets: ASCII K is a different, undefined name.
    let mut other = bytes.clone();
    other.extend_from_slice(b"group g any K\n");
    assert_eq!(
        Policy::parse(&other),
        Err(PolicyError::Line {
            line: 4,
            problem: LineProblem::UndefinedName { name: "K".into() }
        })
    );
    let mut bad = bytes;
    bad.extend_from_slice(b"witness \xff x\n");
    assert_eq!(
        Policy::parse(&bad),
        Err(PolicyError::Line {
            line: 4,
            problem: LineProblem::NotUtf8
        })
    );
}

/// Builds a policy text from a template: `{log}`, `{log2}`, `{w1}`, `{w2}`, `{w3}`
/// become vkeys (`{w1}`..`{w3}` witness keys, `{log}`/`{log2}` log keys, `{wlog}` a
/// log-type key named like a witness).
fn fill(template: &str) -> String {
    template
        .replace("{log}", &log_signer(1).verifier().to_string())
        .replace("{log2}", &log_signer(2).verifier().to_string())
        .replace(
            "{w1}",
            &witness_signer("w1.example", 11).verifier().to_string(),
        )
        .replace(
            "{w2}",
            &witness_signer("w2.example", 12).verifier().to_string(),
        )
        .replace(
            "{w3}",
            &witness_signer("w3.example", 13).verifier().to_string(),
        )
        .replace(
            "{w1again}",
            &witness_signer("other.example", 11).verifier().to_string(),
        )
        .replace(
            "{wlog}",
            &Signer::generate("w.example", KeyType::Ed25519, [11; 32])
                .unwrap()
                .verifier()
                .to_string(),
        )
}

macro_rules! invalid_policies {
    ($($test:ident => $template:expr, $err:pat,)*) => {$(
        #[test]
        fn $test() {
            let text = fill($template);
            let got = text.parse::<Policy>();
            assert!(matches!(got, Err($err)), "{text:?} gave {got:?}");
        }
    )*};
}

invalid_policies! {
    invalid_empty => "", PolicyError::MissingQuorum,
    invalid_only_comments => "# nothing\n\n", PolicyError::MissingQuorum,
    invalid_no_quorum => "log {log}\nwitness A {w1}\n", PolicyError::MissingQuorum,
    invalid_two_quorums => "witness A {w1}\nquorum A\nquorum none\n",
        PolicyError::Line { line: 3, problem: LineProblem::DuplicateQuorum { first_line: 2 } },
    invalid_quorum_undefined => "quorum A\nwitness A {w1}\n",
        PolicyError::Line { line: 1, problem: LineProblem::UndefinedName { .. } },
    invalid_quorum_arity => "quorum\n", PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
    invalid_quorum_two_names => "witness A {w1}\nquorum A A\n", PolicyError::Line { line: 2, problem: LineProblem::Arity { .. } },
    invalid_unknown_keyword => "logs {log}\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::UnknownKeyword { .. } },
    invalid_uppercase_keyword => "LOG {log}\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::UnknownKeyword { .. } },
    invalid_carriage_return => "log {log}\r\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: b'\r', .. } },
    invalid_nul_in_comment => "# a\0b\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: 0, column: 4 } },
    invalid_del => "quorum none\x7f\n",
        PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: 0x7f, .. } },
    invalid_vertical_tab_separator => "quorum\x0bnone\n",
        PolicyError::Line { line: 1, problem: LineProblem::ForbiddenOctet { octet: 0x0b, .. } },
    invalid_log_arity => "log {log} https://a https://b\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
    invalid_log_no_key => "log\nquorum none\n", PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
    invalid_log_bad_vkey => "log example.com/log+00000000+AQ==\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::InvalidVkey { .. } },
    invalid_log_witness_key => "log {w1}\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::WrongKeyType { role: "log", expected: 1, found: 4 } },
    invalid_witness_log_key => "witness A {wlog}\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::WrongKeyType { role: "witness", expected: 4, found: 1 } },
    invalid_duplicate_log => "log {log}\nlog {log}\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::DuplicateKey { role: "log", first_line: 1 } },
    invalid_duplicate_witness_key_other_name => "witness A {w1}\n# c\nwitness B {w1again}\nquorum none\n",
        PolicyError::Line { line: 3, problem: LineProblem::DuplicateKey { role: "witness", first_line: 1 } },
    invalid_witness_arity => "witness A\nquorum none\n", PolicyError::Line { line: 1, problem: LineProblem::Arity { .. } },
    invalid_witness_named_none => "witness none {w1}\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::ReservedName },
    invalid_duplicate_witness_name => "witness A {w1}\nwitness A {w2}\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::DuplicateName { first_line: 1, .. } },
    invalid_group_named_like_witness => "witness A {w1}\ngroup A any A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::DuplicateName { first_line: 1, .. } },
    invalid_group_named_none => "witness A {w1}\ngroup none any A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::ReservedName },
    invalid_group_no_members => "witness A {w1}\ngroup g any\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::Arity { .. } },
    invalid_group_forward_reference => "group g any A\nwitness A {w1}\nquorum none\n",
        PolicyError::Line { line: 1, problem: LineProblem::UndefinedName { .. } },
    invalid_group_self_reference => "witness A {w1}\ngroup g any A g\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::UndefinedName { .. } },
    invalid_group_none_member => "witness A {w1}\ngroup g any A none\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::NoneAsMember },
    invalid_group_member_twice => "witness A {w1}\ngroup g any A A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::MemberListedTwice { first_line: 2, .. } },
    invalid_member_in_two_groups => "witness A {w1}\nwitness B {w2}\ngroup g any A\ngroup h any A B\nquorum none\n",
        PolicyError::Line { line: 4, problem: LineProblem::MemberListedTwice { first_line: 3, .. } },
    invalid_threshold_zero => "witness A {w1}\ngroup g 0 A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::ThresholdOutOfRange { k: 0, members: 1 } },
    invalid_threshold_above_n => "witness A {w1}\nwitness B {w2}\ngroup g 3 A B\nquorum none\n",
        PolicyError::Line { line: 3, problem: LineProblem::ThresholdOutOfRange { k: 3, members: 2 } },
    invalid_threshold_leading_zero => "witness A {w1}\ngroup g 01 A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::InvalidThreshold { .. } },
    invalid_threshold_sign => "witness A {w1}\ngroup g +1 A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::InvalidThreshold { .. } },
    invalid_threshold_word => "witness A {w1}\ngroup g ALL A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::InvalidThreshold { .. } },
    invalid_threshold_huge => "witness A {w1}\ngroup g 99999999999999999999999 A\nquorum none\n",
        PolicyError::Line { line: 2, problem: LineProblem::ThresholdOutOfRange { .. } },
}

#[test]
fn limits_are_enforced() {
    let witnesses: String = (0..=MAX_WITNESSES)
        .map(|i| {
            let w = witness_signer(&format!("w{i}.example"), i as u8 + 1);
            format!("witness W{i} {}\n", w.verifier())
        })
        .collect();
    let exactly = witnesses
        .lines()
        .take(MAX_WITNESSES)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "quorum none\n";
    assert_eq!(
        exactly.parse::<Policy>().unwrap().witnesses.len(),
        MAX_WITNESSES
    );
    assert_eq!(
        (witnesses + "quorum none\n").parse::<Policy>(),
        Err(PolicyError::Line {
            line: MAX_WITNESSES + 1,
            problem: LineProblem::TooMany {
                what: "witnesses",
                limit: MAX_WITNESSES
            }
        })
    );
    let big = "#".repeat(MAX_POLICY_SIZE + 1);
    assert!(matches!(
        big.parse::<Policy>(),
        Err(PolicyError::TooLarge { .. })
    ));
}

#[test]
fn errors_name_the_line() {
    let err = fill("witness A {w1}\ngroup g 3 A\nquorum g\n")
        .parse::<Policy>()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy line 2: threshold 3 is outside 1..=1"
    );
}

/// A checkpoint note signed by `log` and cosigned by `cosigners`.
fn checkpoint_note(log: &Signer, cosigners: &[&Signer]) -> Vec<u8> {
    let cp = Checkpoint {
        origin: log.name().to_owned(),
        size: 7,
        root_hash: Hash([0x42; 32]),
        extensions: vec![],
    };
    let mut note = Note::sign(&cp.to_string(), &[log]).unwrap();
    for w in cosigners {
        note.add_signature(cosign(w, &cp, 1_700_000_000).unwrap());
    }
    note.to_bytes()
}

fn example_signer(name: &str) -> Signer {
    six_witnesses()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap()
}

#[test]
fn verify_checkpoint_accepts_quorum() {
    let policy: Policy = spec_example().parse().unwrap();
    let (x1, x3, y2) = (
        example_signer("X1"),
        example_signer("X3"),
        example_signer("Y2"),
    );
    let bytes = checkpoint_note(&log_signer(1), &[&y2, &x3, &x1]);
    let verified = policy.verify_checkpoint(&bytes).unwrap();
    assert_eq!(verified.checkpoint.size, 7);
    assert_eq!(verified.log, log_signer(1).verifier());
    assert_eq!(verified.witnesses, ["X1", "X3", "Y2"]);
    assert_eq!(verified.note.to_bytes(), bytes);
}

#[test]
fn verify_checkpoint_rejects_missing_quorum() {
    let policy: Policy = spec_example().parse().unwrap();
    let (x1, x3) = (example_signer("X1"), example_signer("X3"));
    let bytes = checkpoint_note(&log_signer(1), &[&x1, &x3]);
    assert_eq!(
        policy.verify_checkpoint(&bytes),
        Err(CheckpointVerifyError::QuorumNotMet {
            origin: ORIGIN.into(),
            size: 7,
            cosigners: vec!["X1".into(), "X3".into()],
        })
    );
}

#[test]
fn verify_checkpoint_ignores_bad_cosignature() {
    let policy: Policy = spec_example().parse().unwrap();
    let (x1, x3, y2) = (
        example_signer("X1"),
        example_signer("X3"),
        example_signer("Y2"),
    );
    let bytes = checkpoint_note(&log_signer(1), &[&x1, &x3, &y2]);
    let mut note = Note::parse(&bytes).unwrap();
    // Corrupt Y2's signature bytes (the last signature line).
    let last = note.signatures.last_mut().unwrap();
    last.signature[20] ^= 1;
    let got = policy.verify_checkpoint(&note.to_bytes());
    assert!(
        matches!(&got, Err(CheckpointVerifyError::QuorumNotMet { cosigners, .. }) if cosigners == &["X1", "X3"]),
        "{got:?}"
    );
}

#[test]
fn verify_checkpoint_quorum_none() {
    let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
    let verified = policy
        .verify_checkpoint(&checkpoint_note(&log_signer(1), &[]))
        .unwrap();
    assert!(verified.witnesses.is_empty());
}

#[test]
fn verify_checkpoint_second_log_for_origin() {
    let policy: Policy = fill("log {log}\nlog {log2}\nquorum none\n")
        .parse()
        .unwrap();
    let verified = policy
        .verify_checkpoint(&checkpoint_note(&log_signer(2), &[]))
        .unwrap();
    assert_eq!(verified.log, log_signer(2).verifier());
}

#[test]
fn verify_checkpoint_unknown_log() {
    let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
    let other = Signer::generate("other.example/log", KeyType::Ed25519, [1; 32]).unwrap();
    assert_eq!(
        policy.verify_checkpoint(&checkpoint_note(&other, &[])),
        Err(CheckpointVerifyError::UnknownLog {
            origin: "other.example/log".into()
        })
    );
}

#[test]
fn verify_checkpoint_wrong_log_key() {
    let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
    assert_eq!(
        policy.verify_checkpoint(&checkpoint_note(&log_signer(2), &[])),
        Err(CheckpointVerifyError::NotSignedByLog {
            origin: ORIGIN.into()
        })
    );
}

#[test]
fn verify_checkpoint_tampered_log_signature() {
    let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
    let mut note = Note::parse(&checkpoint_note(&log_signer(1), &[])).unwrap();
    note.signatures[0].signature[0] ^= 0x80;
    assert!(matches!(
        policy.verify_checkpoint(&note.to_bytes()),
        Err(CheckpointVerifyError::InvalidLogSignature { .. })
    ));
}

#[test]
fn verify_checkpoint_malformed() {
    let policy: Policy = fill("log {log}\nquorum none\n").parse().unwrap();
    assert!(matches!(
        policy.verify_checkpoint(b"not a note"),
        Err(CheckpointVerifyError::Note(_))
    ));
    let signed = Note::sign("example.com/log\nnot a size\n", &[&log_signer(1)]).unwrap();
    assert!(matches!(
        policy.verify_checkpoint(&signed.to_bytes()),
        Err(CheckpointVerifyError::Checkpoint(_))
    ));
}
