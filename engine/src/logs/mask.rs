//! A log line's words with their values masked: what a template is made of. The rules are the
//! ones any system's logs need, one set for all: numbers and what numbers are written as
//! (hex, versions, addresses, sizes and durations with their units, times and dates), ids
//! (UUIDs, hashes, mixed letters and digits), paths, host names, ports, e-mail addresses and
//! empty brackets become `<*>`; words are split on whitespace only, so `key=value` keeps its
//! key (`user=<*>`) and a bracket or colon stays part of the word it is written with.
//!
//! No regular expression: one scan of each word's bytes.

pub const WILDCARD: &str = "<*>";

/// What a value's unit may be written as, after the value (`1.16 KB`, `30 ms`), lowercase.
const UNITS: [&[u8]; 15] = [
    b"b", b"kb", b"mb", b"gb", b"tb", b"kib", b"mib", b"gib", b"tib", b"ms", b"us", b"ns", b"s", b"sec",
    b"secs",
];

/// What a masked word holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No value: a word of the template.
    Word,
    /// Words and values (`user=<*>`, `blk_<*>`).
    Mixed,
    /// Values and punctuation only (`<*>`, `(<*>,`).
    Value,
}

impl Kind {
    pub fn of(word: &str) -> Kind {
        if is_value_only(word) {
            Kind::Value
        } else if has_value(word) {
            Kind::Mixed
        } else {
            Kind::Word
        }
    }

    pub fn has_value(self) -> bool {
        self != Kind::Word
    }
}

/// Masked words of one line, reused from line to line: `text` holds them one space apart,
/// `spans` where each is and what it holds.
#[derive(Default, Clone)]
pub struct Masked {
    text: String,
    spans: Vec<(u32, u32, Kind)>,
    /// Where runs of values are rewritten (swapped with the above).
    spare_text: String,
    spare_spans: Vec<(u32, u32, Kind)>,
}

impl Masked {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&(from, to, _)| &self.text[from as usize..to as usize])
    }

    /// A hash of the masked words (written one space apart).
    pub fn hash(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.text.as_bytes())
    }

    /// The words and what each holds.
    pub fn kinded(&self) -> impl Iterator<Item = (&str, Kind)> {
        self.spans.iter().map(|&(from, to, kind)| (&self.text[from as usize..to as usize], kind))
    }

    /// Masks `line` into this buffer.
    pub fn mask(&mut self, line: &str) {
        self.text.clear();
        self.spans.clear();
        // Whether values meet other values or date words, for `dates_and_runs`.
        let mut runs = false;
        let mut last = Kind::Word;
        // The last word, as written (a word's masked text when it holds no value).
        let mut previous: Option<&str> = None;
        // Words as written still to copy to `text` (one space apart in the line, as there).
        let mut copy = (0, 0);
        let bytes = line.as_bytes();
        let mut index = 0;
        loop {
            while index < bytes.len() && CLASSES[bytes[index] as usize] == SPACE {
                index += 1;
            }
            if index == bytes.len() {
                break;
            }
            let start = index;
            // The classes of its bytes, or-ed: what decides which rules can apply to it.
            let mut seen = 0;
            while index < bytes.len() {
                let class = CLASSES[bytes[index] as usize];
                if class == SPACE {
                    break;
                }
                seen |= class;
                index += 1;
            }
            // Words end at ASCII whitespace: on character boundaries.
            let word = line.get(start..index).unwrap_or_default();
            // A unit after a value is part of it: `(1.16 KB)` is one value.
            if last == Kind::Value && seen & LETTER != 0 && is_unit(word) {
                continue;
            }
            // Most words are letters only, and stay as they are: copied with the words around
            // them that do, in one go.
            let (from, to, kind) = if seen & !(LETTER | HEX) == 0 && !is_hex_hash(word) {
                let joined = copy.1 > copy.0 && copy.1 + 1 == start && bytes[copy.1] == b' ';
                if !joined {
                    flush(&mut self.text, line, &mut copy);
                    copy.0 = start;
                }
                copy.1 = index;
                let to = self.text.len() + usize::from(!self.text.is_empty()) + (copy.1 - copy.0);
                (to - word.len(), to, Kind::Word)
            } else {
                flush(&mut self.text, line, &mut copy);
                if !self.text.is_empty() {
                    self.text.push(' ');
                }
                let from = self.text.len();
                let kind = mask_word(word, seen, &mut self.text);
                (from, self.text.len(), kind)
            };
            runs |= match (last, kind) {
                (Kind::Value, Kind::Value) => true,
                (Kind::Value, Kind::Word) => is_date_word(word),
                (Kind::Word, Kind::Value) => previous.is_some_and(is_date_word),
                _ => false,
            };
            (last, previous) = (kind, Some(word));
            self.spans.push((from as u32, to as u32, kind));
        }
        flush(&mut self.text, line, &mut copy);
        if runs {
            self.dates_and_runs();
        }
    }

    /// Weekday and month names among values are part of a date (`Fri Jul 1 07:57:30 2005`);
    /// a run of values and date words is one value, written as its first value word.
    fn dates_and_runs(&mut self) {
        let (words, spans) = (&self.text, &self.spans);
        let count = spans.len();
        let word = |index: usize| &words[spans[index].0 as usize..spans[index].1 as usize];
        let value = |index: usize| spans[index].2 == Kind::Value;
        let date = |index: usize| spans[index].2 == Kind::Word && is_date_word(word(index));
        let in_run = |index: usize| value(index) || date(index);
        let (text, rewritten) = (&mut self.spare_text, &mut self.spare_spans);
        text.clear();
        rewritten.clear();
        let mut push = |word: &str, kind: Kind| {
            if !text.is_empty() {
                text.push(' ');
            }
            let from = text.len() as u32;
            text.push_str(word);
            rewritten.push((from, text.len() as u32, kind));
        };
        let mut index = 0;
        while index < count {
            if !in_run(index) {
                push(word(index), spans[index].2);
                index += 1;
                continue;
            }
            let start = index;
            while index < count && in_run(index) {
                index += 1;
            }
            if (start..index).any(value) {
                push(if value(start) { word(start) } else { WILDCARD }, Kind::Value);
            } else {
                (start..index).for_each(|at| push(word(at), spans[at].2));
            }
        }
        std::mem::swap(&mut self.text, &mut self.spare_text);
        std::mem::swap(&mut self.spans, &mut self.spare_spans);
    }
}

/// Whether a masked word holds a value.
pub fn has_value(word: impl AsRef<[u8]>) -> bool {
    let bytes = word.as_ref();
    bytes.len() >= 3 && (0..bytes.len() - 2).any(|at| bytes[at] == b'<' && bytes[at + 1..at + 3] == *b"*>")
}

/// Whether a masked word is values and punctuation only (`<*>`, `(<*>)`, `<*>,`).
pub fn is_value_only(word: &str) -> bool {
    let bytes = word.as_bytes();
    let (mut at, mut valued) = (0, false);
    while at < bytes.len() {
        if bytes[at..].starts_with(WILDCARD.as_bytes()) {
            valued = true;
            at += WILDCARD.len();
        } else if bytes[at].is_ascii_alphanumeric() {
            return false;
        } else {
            at += 1;
        }
    }
    valued
}

fn is_unit(word: &str) -> bool {
    if word.len() > 8 {
        return false;
    }
    let bytes = word.as_bytes();
    let Some(first) = bytes.iter().position(u8::is_ascii_alphabetic) else { return false };
    let last = bytes.iter().rposition(u8::is_ascii_alphabetic).unwrap_or(first);
    let mut lower = [0u8; 8];
    for (to, from) in lower.iter_mut().zip(&bytes[first..=last]) {
        *to = from.to_ascii_lowercase();
    }
    UNITS.contains(&&lower[..=last - first])
}
/// A weekday or month name (`Fri`, `July,`), a date's words next to its numbers.
fn is_date_word(word: &str) -> bool {
    let mut name = word.as_bytes();
    while let [rest @ .., b',' | b'.'] = name {
        name = rest;
    }
    let first = name.first().map_or(0, u8::to_ascii_lowercase);
    if !(3..=9).contains(&name.len()) || !b"adfjmnostw".contains(&first) {
        return false;
    }
    let mut lower = [0u8; 9];
    for (to, from) in lower.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
    }
    matches!(
        &lower[..name.len()],
        b"mon"
            | b"tue"
            | b"wed"
            | b"thu"
            | b"fri"
            | b"sat"
            | b"sun"
            | b"monday"
            | b"tuesday"
            | b"wednesday"
            | b"thursday"
            | b"friday"
            | b"saturday"
            | b"sunday"
            | b"jan"
            | b"feb"
            | b"mar"
            | b"apr"
            | b"may"
            | b"jun"
            | b"jul"
            | b"aug"
            | b"sep"
            | b"oct"
            | b"nov"
            | b"dec"
            | b"january"
            | b"february"
            | b"march"
            | b"april"
            | b"june"
            | b"july"
            | b"august"
            | b"september"
            | b"october"
            | b"november"
            | b"december"
    )
}

/// Byte classes, for one pass over a line: whitespace is none, every other byte one or two.
const SPACE: u8 = 0;
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const SLASH: u8 = 4;
const COLON: u8 = 8;
const AT: u8 = 16;
const DOT: u8 = 32;
/// With `LETTER`: a hex digit written as a letter.
const HEX: u8 = 64;
/// Any other byte (punctuation, and the bytes of characters beyond ASCII).
const OTHER: u8 = 128;
const CLASSES: [u8; 256] = {
    let mut classes = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        classes[byte] = if b.is_ascii_whitespace() {
            SPACE
        } else if b.is_ascii_hexdigit() && !b.is_ascii_digit() {
            LETTER | HEX
        } else if b.is_ascii_alphabetic() {
            LETTER
        } else if b.is_ascii_digit() {
            DIGIT
        } else {
            match b {
                b'/' => SLASH,
                b':' => COLON,
                b'@' => AT,
                b'.' => DOT,
                _ => OTHER,
            }
        };
        byte += 1;
    }
    classes
};

/// Appends the words of `line` in `copy` to `text`, one space after what it holds.
fn flush(text: &mut String, line: &str, copy: &mut (usize, usize)) {
    if copy.1 > copy.0 {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(line.get(copy.0..copy.1).unwrap_or_default());
    }
    *copy = (0, 0);
}

/// A hash written in hex letters (`deadbeef`): eight or more.
fn is_hex_hash(word: &str) -> bool {
    word.len() >= 8 && word.bytes().all(|byte| CLASSES[byte as usize] & HEX != 0)
}

/// Appends `word`, masked, to `out`; says what it holds. `seen` is its bytes' classes, or-ed.
fn mask_word(word: &str, seen: u8, out: &mut String) -> Kind {
    let (colon, at, dot) = (seen & COLON != 0, seen & AT != 0, seen & DOT != 0);
    // A path (`/var/log/x`, `a/b/c`) or a URL (`://`): two slashes or more.
    let path = seen & SLASH != 0 && word.bytes().filter(|byte| *byte == b'/').nth(1).is_some();
    if path || (colon && is_host_port(word)) || (at && is_email(word)) || is_empty_brackets(word) {
        out.push_str(WILDCARD);
        return Kind::Value;
    }
    let from = out.len();
    // Without a digit, only a run of eight hex letters or more can be a value.
    let kind = if seen & DIGIT == 0
        && (seen & HEX == 0 || word.len() < 8 || word.bytes().filter(u8::is_ascii_alphabetic).count() < 8)
    {
        out.push_str(word);
        Kind::Word
    } else {
        mask_runs(word, out)
    };
    if dot && is_host_name(&out[from..]) {
        out.truncate(from);
        out.push_str(WILDCARD);
        return Kind::Value;
    }
    kind
}

/// Appends `word` with each run of letters and digits that is a value as `<*>`, and values
/// joined by one or two punctuation characters (`1.16`, `10.0.0.1`, `00:01:02`, `3_42`) as one;
/// says what it holds.
fn mask_runs(word: &str, out: &mut String) -> Kind {
    let bytes = word.as_bytes();
    let mut index = 0;
    // Where the last `<*>` written ends in `out`, and the punctuation since it.
    let mut last_value: Option<usize> = None;
    let (mut values, mut words) = (false, false);
    while index < bytes.len() {
        if bytes.len() - index >= 36 && bytes[index].is_ascii_hexdigit() {
            if let Some(length) = uuid_at(&bytes[index..]) {
                push_value(out, &mut last_value);
                values = true;
                index += length;
                continue;
            }
        }
        let start = index;
        let mut digits = 0;
        while index < bytes.len() {
            let class = CLASSES[bytes[index] as usize];
            if class & (LETTER | DIGIT) == 0 {
                break;
            }
            digits += usize::from(class == DIGIT);
            index += 1;
        }
        if index > start {
            let run = &word[start..index];
            if is_value(run, digits) {
                push_value(out, &mut last_value);
                values = true;
            } else {
                out.push_str(run);
                last_value = None;
                words = true;
            }
            continue;
        }
        // Punctuation (or any other character): kept; values it joins become one.
        let character = if bytes[index] < 0x80 {
            out.push(char::from(bytes[index]));
            1
        } else {
            let character = word[index..].chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
            out.push(character);
            character.len_utf8()
        };
        index += character;
        if let Some(end) = last_value {
            if out.len() - end > 2 || character > 1 || bytes[index - 1] == b'<' {
                last_value = None;
            }
        }
    }
    match (values, words) {
        (false, _) => Kind::Word,
        (true, true) => Kind::Mixed,
        (true, false) => Kind::Value,
    }
}

/// Writes a value, or extends the one a short punctuation away.
fn push_value(out: &mut String, last_value: &mut Option<usize>) {
    match *last_value {
        Some(end) => out.truncate(end),
        None => out.push_str(WILDCARD),
    }
    *last_value = Some(out.len());
}

/// Whether a run of ASCII letters and `digits` digits is a value rather than a word.
fn is_value(run: &str, digits: usize) -> bool {
    let bytes = run.as_bytes();
    if digits == bytes.len() {
        return true;
    }
    // A hash or an address in hex, with or without digits (`ffffffff`, `1e88b294cd1d`).
    if bytes.len() >= 8 && bytes.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    if digits == 0 {
        return false;
    }
    if bytes.len() > 2 && (run.starts_with("0x") || run.starts_with("0X")) {
        return true;
    }
    // A number and its unit (`12ms`, `16KB`).
    let leading = bytes.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if leading > 0
        && (1..=3).contains(&(bytes.len() - leading))
        && bytes[leading..].iter().all(u8::is_ascii_alphabetic)
    {
        return true;
    }
    // An id mixing letters and digits (`cn304`, `jA9J1UvC004306`); a name with one digit in it
    // (`ssh2`, `SOCKS5`, `ee0`) is a word.
    digits >= 2 && (bytes.len() - digits <= 4 || digits * 2 >= bytes.len())
}

/// The length of a UUID (8-4-4-4-12 hex digits) at the start of `bytes`.
fn uuid_at(bytes: &[u8]) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    if bytes.len() < 36 {
        return None;
    }
    let mut at = 0;
    for (index, group) in GROUPS.iter().enumerate() {
        if !bytes[at..at + group].iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        at += group;
        if index < 4 {
            if bytes[at] != b'-' {
                return None;
            }
            at += 1;
        }
    }
    Some(at)
}

/// `name:port`, `10.0.0.1:80` (with trailing punctuation).
fn is_host_port(word: &str) -> bool {
    let bytes = word.as_bytes();
    let Some(end) = bytes.iter().rposition(u8::is_ascii_alphanumeric) else { return false };
    let Some(colon) = bytes[..end].iter().rposition(|byte| *byte == b':') else { return false };
    let (host, port) = (&bytes[..colon], &bytes[colon + 1..=end]);
    !host.is_empty()
        && port.iter().all(u8::is_ascii_digit)
        && host.iter().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_'))
}

fn is_email(word: &str) -> bool {
    let bytes = word.as_bytes();
    let Some(at) = bytes.iter().position(|byte| *byte == b'@') else { return false };
    let wordy = |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_');
    at > 0 && wordy(&bytes[at - 1]) && bytes.get(at + 1).is_some_and(wordy)
}

/// `()`, `[]`, `{}`, `""`, `''`, maybe with a trailing `,;:.`: a value that was empty.
fn is_empty_brackets(word: &str) -> bool {
    let bytes = word.as_bytes();
    let bytes = match bytes {
        [rest @ .., b',' | b';' | b':' | b'.'] => rest,
        _ => bytes,
    };
    matches!(bytes, b"()" | b"[]" | b"{}" | b"\"\"" | b"''")
}

/// A host name: dotted labels, with a value among them or digits in them (`node-<*>.cluster`,
/// `<*>.compute.internal`), or three or more lowercase labels ending in a top-level domain
/// (`proxy.cse.cuhk.edu.hk`).
fn is_host_name(masked: &str) -> bool {
    let mut name = masked.as_bytes();
    if !name.contains(&b'.') {
        return false;
    }
    while let [b'"' | b'\'' | b'(' | b'[', rest @ ..] = name {
        name = rest;
    }
    while let [rest @ .., b'"' | b'\'' | b')' | b']' | b',' | b';' | b':' | b'.'] = name {
        name = rest;
    }
    let dots = name.iter().filter(|byte| **byte == b'.').count();
    if dots == 0 || name.split(|byte| *byte == b'.').any(<[u8]>::is_empty) {
        return false;
    }
    let label_byte =
        |byte: &u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_' | b'<' | b'>' | b'*');
    if !name.iter().all(label_byte) {
        return false;
    }
    if has_value(name) || (dots >= 2 && name.iter().any(u8::is_ascii_digit)) {
        return true;
    }
    let lowercase = name
        .iter()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'-'));
    let last = name.rsplit(|byte| *byte == b'.').next().unwrap_or_default();
    lowercase && dots >= 2 && (2..=3).contains(&last.len()) && last.iter().all(u8::is_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(line: &str) -> Vec<String> {
        let mut masked = Masked::default();
        masked.mask(line);
        masked.words().map(str::to_owned).collect()
    }

    #[test]
    fn numbers_and_what_numbers_are_written_as_are_values() {
        assert_eq!(masked("took 12ms for 3 items, 16KB"), ["took", "<*>", "for", "<*>", "items,", "<*>"]);
        assert_eq!(masked("version 1.16.2 at 0x7ffd1e"), ["version", "<*>", "at", "<*>"]);
        assert_eq!(masked("block blk_-6952295868487656571 id=42"), ["block", "blk_-<*>", "id=<*>"]);
        assert_eq!(masked("hash ffffffffdeadbeef ok"), ["hash", "<*>", "ok"]);
        // Names with a digit in them are words.
        assert_eq!(masked("sshd ssh2 SOCKS5 ee0"), ["sshd", "ssh2", "SOCKS5", "ee0"]);
        assert_eq!(masked("request jA9J1UvC004306 from cn304"), ["request", "<*>", "from", "<*>"]);
    }

    #[test]
    fn addresses_paths_hosts_and_ids_are_values() {
        assert_eq!(masked("connect to 10.0.0.1:8080 failed"), ["connect", "to", "<*>", "failed"]);
        assert_eq!(masked("proxy.example.com:5070 open"), ["<*>", "open"]);
        assert_eq!(masked("open /var/log/app.log"), ["open", "<*>"]);
        assert_eq!(masked("GET https://example.com/x"), ["GET", "<*>"]);
        assert_eq!(masked("mail to ops@example.com"), ["mail", "to", "<*>"]);
        assert_eq!(masked("host node-17.cluster.local up"), ["host", "<*>", "up"]);
        assert_eq!(masked("from mail.cse.cuhk.edu.hk"), ["from", "<*>"]);
        assert_eq!(
            masked("instance 1e88b294-cd1d-4d2c-9c4e-64f5a0fa4e2b spawned"),
            ["instance", "<*>", "spawned"]
        );
        assert_eq!(masked("args () done"), ["args", "<*>", "done"]);
    }

    #[test]
    fn a_value_keeps_its_unit_and_its_date_and_values_in_a_row_are_one() {
        assert_eq!(masked("sent 1190 bytes (1.16 KB) total"), ["sent", "<*>", "bytes", "(<*>", "total"]);
        assert_eq!(masked("close at Fri Jul 1 07:57:30 2005 ok"), ["close", "at", "<*>", "ok"]);
        assert_eq!(masked("values 1 2 3 end"), ["values", "<*>", "end"]);
        assert_eq!(masked("size 5 KB(1024) free"), ["size", "<*>", "free"]);
        assert_eq!(masked("user root logged in"), ["user", "root", "logged", "in"]);
    }

    #[test]
    fn words_are_one_space_apart_however_the_line_spaces_them() {
        let mut one = Masked::default();
        one.mask("job 42 done on host web-1 (exit 0)");
        for spaced in ["  job\t42  done on\thost web-1   (exit 0) ", "job 42 done on host web-1 (exit\n0)"] {
            let mut other = Masked::default();
            other.mask(spaced);
            assert_eq!(other.words().collect::<Vec<_>>(), one.words().collect::<Vec<_>>(), "{spaced:?}");
            assert_eq!(other.hash(), one.hash(), "{spaced:?}");
        }
        assert_eq!(
            one.words().collect::<Vec<_>>(),
            ["job", "<*>", "done", "on", "host", "web-<*>", "(exit", "<*>)"]
        );
    }
}
