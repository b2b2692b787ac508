//! Parsing a tlog-policy file: one line at a time into a [`Builder`] that checks
//! every rule of the spec, naming the line of the first violation.

use std::collections::HashMap;
use std::str::FromStr;

use super::*;

impl Policy {
    /// Parses a policy file from raw octets.
    ///
    /// Lines end at `\n` (a missing final newline is accepted); fields are separated by
    /// runs of spaces and tabs. Every spec rule is enforced: allowed octets only, known
    /// keywords, vkeys of the right type (0x01 for logs, 0x04 for witnesses), no two logs
    /// or two witnesses with the same public key, names unique and not `none`, group
    /// members defined on earlier lines and listed at most once in the whole file,
    /// 1 <= k <= n, exactly one quorum naming an earlier witness or group, and at most
    /// [`MAX_LOGS`], [`MAX_WITNESSES`] and [`MAX_GROUPS`] definitions. Non-ASCII octets
    /// may appear in comments freely, and in names and URLs when they are UTF-8.
    ///
    /// Errors: [`PolicyError::Line`] for the first bad line, [`PolicyError::TooLarge`],
    /// [`PolicyError::MissingQuorum`].
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        if bytes.len() > MAX_POLICY_SIZE {
            return Err(PolicyError::TooLarge { len: bytes.len() });
        }
        let mut builder = Builder::default();
        for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            builder
                .line(line, raw)
                .map_err(|problem| PolicyError::Line { line, problem })?;
        }
        builder.finish()
    }
}

impl FromStr for Policy {
    type Err = PolicyError;

    /// Parses a policy file; see [`Policy::parse`].
    fn from_str(s: &str) -> Result<Policy, PolicyError> {
        Policy::parse(s.as_bytes())
    }
}

/// Parser state: what has been defined so far, and where.
#[derive(Default)]
struct Builder {
    logs: Vec<(PolicyLog, usize)>,
    witnesses: Vec<(PolicyWitness, usize)>,
    groups: Vec<PolicyGroup>,
    /// Every defined witness and group name, with its line.
    names: HashMap<String, usize>,
    /// Every name listed as a group member, with the line that listed it.
    members: HashMap<String, usize>,
    quorum: Option<(Quorum, usize)>,
}

impl Builder {
    fn line(&mut self, line: usize, raw: &[u8]) -> Result<(), LineProblem> {
        if let Some((index, &octet)) = raw.iter().enumerate().find(|(_, o)| !allowed_octet(**o)) {
            return Err(LineProblem::ForbiddenOctet {
                octet,
                column: index + 1,
            });
        }
        let raw_fields: Vec<&[u8]> = raw
            .split(|&o| o == b' ' || o == b'\t')
            .filter(|field| !field.is_empty())
            .collect();
        match raw_fields.first() {
            None => return Ok(()),
            Some(first) if first.starts_with(b"#") => return Ok(()),
            Some(_) => {}
        }
        let fields = raw_fields
            .iter()
            .map(|field| std::str::from_utf8(field))
            .collect::<Result<Vec<&str>, _>>()
            .map_err(|_| LineProblem::NotUtf8)?;
        match fields[0] {
            "log" => self.log(line, &fields[1..]),
            "witness" => self.witness(line, &fields[1..]),
            "group" => self.group(line, &fields[1..]),
            "quorum" => self.quorum(line, &fields[1..]),
            other => Err(LineProblem::UnknownKeyword {
                keyword: other.to_owned(),
            }),
        }
    }

    fn log(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let (vkey, url) = match fields {
            [vkey] => (*vkey, None),
            [vkey, url] => (*vkey, Some((*url).to_owned())),
            _ => {
                return Err(LineProblem::Arity {
                    expected: "log <vkey> [<url>]",
                });
            }
        };
        if self.logs.len() == MAX_LOGS {
            return Err(too_many("logs", MAX_LOGS));
        }
        let verifier = parse_vkey(vkey, "log", KeyType::Ed25519)?;
        if let Some((_, first_line)) = self
            .logs
            .iter()
            .find(|(log, _)| log.verifier.public_key() == verifier.public_key())
        {
            return Err(LineProblem::DuplicateKey {
                role: "log",
                first_line: *first_line,
            });
        }
        self.logs.push((PolicyLog { verifier, url }, line));
        Ok(())
    }

    fn witness(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let (name, vkey, url) = match fields {
            [name, vkey] => (*name, *vkey, None),
            [name, vkey, url] => (*name, *vkey, Some((*url).to_owned())),
            _ => {
                return Err(LineProblem::Arity {
                    expected: "witness <name> <vkey> [<url>]",
                });
            }
        };
        if self.witnesses.len() == MAX_WITNESSES {
            return Err(too_many("witnesses", MAX_WITNESSES));
        }
        self.check_new_name(name)?;
        let verifier = parse_vkey(vkey, "witness", KeyType::CosignatureV1)?;
        if let Some((_, first_line)) = self
            .witnesses
            .iter()
            .find(|(w, _)| w.verifier.public_key() == verifier.public_key())
        {
            return Err(LineProblem::DuplicateKey {
                role: "witness",
                first_line: *first_line,
            });
        }
        self.names.insert(name.to_owned(), line);
        let witness = PolicyWitness {
            name: name.to_owned(),
            verifier,
            url,
        };
        self.witnesses.push((witness, line));
        Ok(())
    }

    fn group(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let [name, threshold, members @ ..] = fields else {
            return Err(group_arity());
        };
        if members.is_empty() {
            return Err(group_arity());
        }
        if self.groups.len() == MAX_GROUPS {
            return Err(too_many("groups", MAX_GROUPS));
        }
        self.check_new_name(name)?;
        let threshold = parse_threshold(threshold, members.len())?;
        let mut listed: Vec<&str> = Vec::with_capacity(members.len());
        for member in members {
            self.check_member(line, member, &listed)?;
            listed.push(member);
        }
        for member in &listed {
            self.members.insert((*member).to_owned(), line);
        }
        self.names.insert((*name).to_owned(), line);
        self.groups.push(PolicyGroup {
            name: (*name).to_owned(),
            threshold,
            members: listed.iter().map(|m| (*m).to_owned()).collect(),
        });
        Ok(())
    }

    fn quorum(&mut self, line: usize, fields: &[&str]) -> Result<(), LineProblem> {
        let [name] = fields else {
            return Err(LineProblem::Arity {
                expected: "quorum <name>",
            });
        };
        if let Some((_, first_line)) = &self.quorum {
            return Err(LineProblem::DuplicateQuorum {
                first_line: *first_line,
            });
        }
        let quorum = if *name == NONE {
            Quorum::None
        } else if self.names.contains_key(*name) {
            Quorum::Named((*name).to_owned())
        } else {
            return Err(LineProblem::UndefinedName {
                name: (*name).to_owned(),
            });
        };
        self.quorum = Some((quorum, line));
        Ok(())
    }

    /// A new witness or group name must not be `none` or already defined.
    fn check_new_name(&self, name: &str) -> Result<(), LineProblem> {
        if name == NONE {
            return Err(LineProblem::ReservedName);
        }
        match self.names.get(name) {
            Some(first_line) => Err(LineProblem::DuplicateName {
                name: name.to_owned(),
                first_line: *first_line,
            }),
            None => Ok(()),
        }
    }

    /// A member must be defined earlier, not `none`, and listed nowhere else.
    fn check_member(&self, line: usize, member: &str, listed: &[&str]) -> Result<(), LineProblem> {
        if member == NONE {
            return Err(LineProblem::NoneAsMember);
        }
        if !self.names.contains_key(member) {
            return Err(LineProblem::UndefinedName {
                name: member.to_owned(),
            });
        }
        let first_line = if listed.contains(&member) {
            Some(line)
        } else {
            self.members.get(member).copied()
        };
        match first_line {
            Some(first_line) => Err(LineProblem::MemberListedTwice {
                name: member.to_owned(),
                first_line,
            }),
            None => Ok(()),
        }
    }

    fn finish(self) -> Result<Policy, PolicyError> {
        let (quorum, _) = self.quorum.ok_or(PolicyError::MissingQuorum)?;
        Ok(Policy {
            logs: self.logs.into_iter().map(|(log, _)| log).collect(),
            witnesses: self.witnesses.into_iter().map(|(w, _)| w).collect(),
            groups: self.groups,
            quorum,
        })
    }
}

/// Tab, and the printable ASCII and high-bit octets: everything the spec allows but
/// newline (which ends lines before this is called).
fn allowed_octet(octet: u8) -> bool {
    octet == b'\t' || (0x20..=0x7e).contains(&octet) || octet >= 0x80
}

fn parse_vkey(vkey: &str, role: &'static str, expected: KeyType) -> Result<Verifier, LineProblem> {
    let verifier: Verifier = vkey.parse().map_err(|error| LineProblem::InvalidVkey {
        vkey: vkey.to_owned(),
        error,
    })?;
    if verifier.key_type() != expected {
        return Err(LineProblem::WrongKeyType {
            role,
            expected: expected.id(),
            found: verifier.key_type().id(),
        });
    }
    Ok(verifier)
}

/// `all`, `any`, or a decimal k with no sign and no leading zero, 1 <= k <= members.
fn parse_threshold(text: &str, members: usize) -> Result<Threshold, LineProblem> {
    match text {
        "all" => return Ok(Threshold::All),
        "any" => return Ok(Threshold::Any),
        _ => {}
    }
    let invalid = || LineProblem::InvalidThreshold {
        threshold: text.to_owned(),
    };
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(invalid());
    }
    // Too many digits for usize cannot be <= members anyway.
    let k: usize = text.parse().unwrap_or(usize::MAX);
    if k == 0 || k > members {
        return Err(LineProblem::ThresholdOutOfRange { k, members });
    }
    Ok(Threshold::AtLeast(k))
}

fn group_arity() -> LineProblem {
    LineProblem::Arity {
        expected: "group <name> (all|any|<k>) <name>...",
    }
}

fn too_many(what: &'static str, limit: usize) -> LineProblem {
    LineProblem::TooMany { what, limit }
}
