//! Shared by the fuzz targets: fixed keys, a reference normaliser and path respellings.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Ticket secret the targets sign with (fuzzing only).
pub const TICKET_SECRET: &[u8; 32] = b"usher-fuzz-ticket-secret-current";
/// An older ticket secret still accepted (rotation).
pub const TICKET_SECRET_OLD: &[u8; 32] = b"usher-fuzz-ticket-secret-older!!";
/// A secret usher does not know: its tickets are forgeries.
pub const TICKET_SECRET_ATTACKER: &[u8; 32] = b"usher-fuzz-ticket-secret-forger!";

/// Seed of the pass signing key (kid `fuzz`).
pub const PASS_SEED: [u8; 32] = [7; 32];
/// Seed of a retired pass key whose public half still verifies (kid `old`).
pub const PASS_SEED_OLD: [u8; 32] = [11; 32];
/// Seed of a key usher does not know (an attacker signing with kid `fuzz`).
pub const PASS_SEED_ATTACKER: [u8; 32] = [13; 32];
/// Pass issuer used by every target.
pub const ISSUER: &str = "usher-fuzz";
/// Unix time the pass targets verify at.
pub const NOW: u64 = 1_800_000_000;

/// An Ed25519 key pair from a 32-byte seed, as (PKCS#8 private PEM, SPKI public PEM):
/// fixed keys without key files in the repository.
pub fn pem_pair(seed: [u8; 32]) -> (String, String) {
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed");
    let public = ring::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec();
    // RFC 8410: PKCS#8 v1 OneAsymmetricKey and SubjectPublicKeyInfo for Ed25519.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&seed);
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(&public);
    (pem("PRIVATE KEY", &pkcs8), pem("PUBLIC KEY", &spki))
}

fn pem(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        STANDARD.encode(der)
    )
}

/// The pass service every pass target uses: signs with `fuzz`, also verifies `old`.
pub fn passes() -> usher::pass::Passes {
    let (private, _) = pem_pair(PASS_SEED);
    let (_, old_public) = pem_pair(PASS_SEED_OLD);
    let ring = usher::pass::KeyRing::from_pem("fuzz", &private, &[("old".into(), old_public)])
        .expect("fixed key ring");
    usher::pass::Passes::new(ring, ISSUER)
}

/// A pass service signing with `seed` under `kid` (the retired key, or a forger's).
pub fn signer(seed: [u8; 32], kid: &str) -> usher::pass::Passes {
    let (private, _) = pem_pair(seed);
    let ring = usher::pass::KeyRing::from_pem(kid, &private, &[]).expect("key ring");
    usher::pass::Passes::new(ring, ISSUER)
}

/// An independent, byte-wise statement of what `path::normalize` must produce for
/// a path starting with `/` (RFC 3986 §6.2.2): escapes checked left to right (a bad one
/// or an encoded `/` or `\` refuses the path), unreserved escapes decoded, the others
/// upper-cased, empty and `.` segments dropped, `..` climbing (never above the root), a
/// trailing `/` kept.
pub fn reference_normalize(path: &str) -> Result<String, usher::path::PathError> {
    use usher::path::PathError;
    let hex = |c: Option<&u8>| c.and_then(|c| char::from(*c).to_digit(16));
    let b = path.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            return Err(PathError::EncodedSeparator);
        }
        if b[i] != b'%' {
            // RFC 3986 pchar and '/' stay; anything else is encoded as a browser would.
            if b[i].is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b[i]) {
                decoded.push(b[i]);
            } else {
                decoded.extend_from_slice(format!("%{:02X}", b[i]).as_bytes());
            }
            i += 1;
            continue;
        }
        let (Some(h), Some(l)) = (hex(b.get(i + 1)), hex(b.get(i + 2))) else {
            return Err(PathError::BadEscape);
        };
        let c = (h * 16 + l) as u8;
        if c == b'/' || c == b'\\' {
            return Err(PathError::EncodedSeparator);
        }
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            decoded.push(c);
        } else {
            decoded.extend_from_slice(format!("%{c:02X}").as_bytes());
        }
        i += 3;
    }
    // Every byte pushed is ASCII.
    let decoded = String::from_utf8(decoded).expect("all ASCII");
    let segments: Vec<&str> = decoded.split('/').collect();
    let mut stack = Vec::new();
    for s in &segments {
        match *s {
            "" | "." => {}
            ".." => {
                if stack.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => stack.push(s),
        }
    }
    let trailing = segments.len() > 1 && matches!(segments[segments.len() - 1], "" | "." | "..");
    let mut out: String = stack.iter().flat_map(|s| ["/", s]).collect();
    if out.is_empty() || trailing {
        out.push('/');
    }
    Ok(out)
}

/// Whether `path` is in normal form by inspection: starts with `/`, no empty, `.` or
/// `..` segment except a final empty one, every `%` followed by two upper-case hex
/// digits of a byte that is neither unreserved nor a separator.
pub fn looks_normal(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("does not start with /".into());
    }
    for bad in ["//", "/./", "/../"] {
        if path.contains(bad) {
            return Err(format!("contains {bad}"));
        }
    }
    if path.ends_with("/.") || path.ends_with("/..") {
        return Err("ends with a dot segment".into());
    }
    let b = path.as_bytes();
    if let Some(c) = b
        .iter()
        .find(|c| !(c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(c)))
    {
        return Err(format!("byte {c:#04x} should have been percent-encoded"));
    }
    for (i, _) in path.match_indices('%') {
        let digits = b.get(i + 1..i + 3).ok_or("cut escape")?;
        if !digits
            .iter()
            .all(|d| d.is_ascii_digit() || (b'A'..=b'F').contains(d))
        {
            return Err(format!("escape at {i} is not upper-case hex"));
        }
        let c = u8::from_str_radix(std::str::from_utf8(digits).unwrap_or("zz"), 16)
            .map_err(|_| "bad hex")?;
        if c.is_ascii_alphanumeric() || b"-._~/\\".contains(&c) {
            return Err(format!(
                "escape %{c:02X} should have been decoded or refused"
            ));
        }
    }
    Ok(())
}

/// Another spelling of the same path (RFC 3986 equivalence): `ops` picks, one step at a
/// time, an unreserved character to percent-encode (either hex case), a `/` to double, a
/// `./` or `x/../` to insert after a `/`, or an escape whose hex case to flip.
pub fn respell(path: &str, ops: &[u8]) -> String {
    // Units: an escape `%XX` stays whole; anything else is one character.
    let mut units: Vec<String> = Vec::new();
    let mut rest = path;
    while let Some(c) = rest.chars().next() {
        let escape =
            c == '%' && rest.len() >= 3 && rest.as_bytes()[1..3].iter().all(u8::is_ascii_hexdigit);
        let n = if escape { 3 } else { c.len_utf8() };
        units.push(rest[..n].to_string());
        rest = &rest[n..];
    }
    for op in ops.chunks(2) {
        if units.is_empty() {
            break;
        }
        let kind = op[0] % 6;
        let at = usize::from(*op.get(1).unwrap_or(&0)) % units.len();
        let unit = units[at].clone();
        let plain = unit.len() == 1 && unit.as_bytes()[0].is_ascii();
        match kind {
            0 if plain && {
                let c = unit.as_bytes()[0];
                c.is_ascii_alphanumeric() || b"-._~".contains(&c)
            } =>
            {
                let c = unit.as_bytes()[0];
                units[at] = if op[0] & 0x80 != 0 {
                    format!("%{c:02x}")
                } else {
                    format!("%{c:02X}")
                };
            }
            1 if unit == "/" => units[at] = "//".into(),
            2 if unit == "/" => units.insert(at + 1, "./".into()),
            3 if unit == "/" => units.insert(at + 1, "x/../".into()),
            4 if unit.len() == 3 && unit.starts_with('%') => {
                let flipped: String = unit
                    .chars()
                    .map(|c| {
                        if c.is_ascii_uppercase() {
                            c.to_ascii_lowercase()
                        } else {
                            c.to_ascii_uppercase()
                        }
                    })
                    .collect();
                units[at] = flipped;
            }
            // A character a browser would encode (non-ASCII, space, quote…), written raw
            // here: spell it as the escapes of its UTF-8 bytes instead.
            5 if !unit.starts_with('%')
                && unit != "\\"
                && unit.bytes().any(|c| {
                    !(c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c))
                }) =>
            {
                units[at] = unit
                    .bytes()
                    .map(|c| {
                        if op[0] & 0x80 != 0 {
                            format!("%{c:02x}")
                        } else {
                            format!("%{c:02X}")
                        }
                    })
                    .collect();
            }
            _ => {}
        }
    }
    units.concat()
}
