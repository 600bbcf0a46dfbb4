//! Request paths, normalised once before anything matches on them (RFC 3986 §6.2.2): a
//! room, a bypass rule or `/_usher/` must see the same path the site will, or
//! `/open/../book` walks past the line. The normalised path is also what is forwarded,
//! so usher and the site can never read a request two ways.

/// Why a path is refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// `..` would climb above the root.
    AboveRoot,
    /// An encoded `/` or `\` (`%2F`, `%5C`), or a bare `\`: a site may read it as a
    /// separator that usher did not match on.
    EncodedSeparator,
    /// A `%` not followed by two hex digits.
    BadEscape,
}

impl PathError {
    /// What is wrong, for a config error or a log line.
    pub fn describe(self) -> &'static str {
        match self {
            PathError::AboveRoot => "'..' climbs above the root",
            PathError::EncodedSeparator => "a '\\' or an encoded '/' or '\\' (%2F, %5C) is refused",
            PathError::BadEscape => "a '%' must be followed by two hex digits",
        }
    }
}

/// The normalised form of `path` (no query): unreserved characters decoded
/// (`%2e` → `.`, `%5F` → `_`), other escapes upper-cased, characters a browser would
/// encode (non-ASCII, space, `"`, `{`…) encoded as it would, runs of `/` merged, `.`
/// and `..` segments resolved. `None` when it is already normal (the common case, no
/// copy). Configured prefixes go through the same function, so `/예매` in a config and
/// a request for `/%ec%98%88%eb%a7%a4` or a raw UTF-8 `/예매` all meet in one spelling.
pub fn normalize(path: &str) -> Result<Option<String>, PathError> {
    let bytes = path.as_bytes();
    let needs_work = bytes.iter().any(|&c| c == b'%' || !kept_as_is(c))
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

/// Whether a path byte stays as it is: RFC 3986 `pchar` (unreserved, sub-delims, `:`,
/// `@`) or `/`. Everything else but `%` is percent-encoded.
fn kept_as_is(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c)
}

/// Decodes `%XX` escapes of unreserved characters; refuses encoded separators and
/// malformed escapes; upper-cases the hex of the escapes it keeps; encodes the bytes
/// `kept_as_is` refuses. The output is ASCII.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            return Err(PathError::EncodedSeparator);
        }
        if c != b'%' {
            if kept_as_is(c) {
                out.push(c as char);
            } else {
                out.push_str(&format!("%{c:02X}"));
            }
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
mod tests;
