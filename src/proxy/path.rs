//! Request paths, normalised once before anything matches on them (RFC 3986 §6.2.2): a
//! room, a bypass rule or `/_usher/` must see the same path the site will, or
//! `/open/../book` walks past the line. The normalised path is also what is forwarded,
//! so usher and the site can never read a request two ways.

/// Why a path is refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// `..` would climb above the root.
    AboveRoot,
    /// An encoded `/` or `\` (`%2F`, `%5C`): a site may decode it into a separator that
    /// usher did not match on.
    EncodedSeparator,
    /// A `%` not followed by two hex digits.
    BadEscape,
}

/// The normalised form of `path` (no query): unreserved characters decoded
/// (`%2e` → `.`, `%5F` → `_`), other escapes upper-cased, runs of `/` merged, `.` and
/// `..` segments resolved. `None` when it is already normal (the common case, no copy).
pub fn normalize(path: &str) -> Result<Option<String>, PathError> {
    let bytes = path.as_bytes();
    let needs_work = bytes.contains(&b'%')
        || path.contains("//")
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if !needs_work {
        return Ok(None);
    }
    let decoded = decode_unreserved(path)?;
    let mut out: Vec<&str> = Vec::new();
    let ends_with_slash =
        decoded.ends_with('/') || decoded.ends_with("/.") || decoded.ends_with("/..");
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => out.push(s),
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for s in &out {
        normal.push('/');
        normal.push_str(s);
    }
    if normal.is_empty() || (ends_with_slash && !out.is_empty()) {
        normal.push('/');
    }
    Ok((normal != path).then_some(normal))
}

/// Decodes `%XX` escapes of unreserved characters; refuses encoded separators and
/// malformed escapes; upper-cases the hex of the escapes it keeps.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i] as char);
            i += 1;
            continue;
        }
        let hex = |c: u8| (c as char).to_digit(16);
        let (Some(h), Some(l)) = (
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(PathError::BadEscape);
        };
        let c = (h * 16 + l) as u8;
        match c {
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            c if c.is_ascii_alphanumeric() || b"-._~".contains(&c) => out.push(c as char),
            c => out.push_str(&format!("%{c:02X}")),
        }
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "path_tests.rs"]
mod tests;
