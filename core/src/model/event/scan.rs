//! A strict JSON scanner over UTF-8 text for the borrowed event reader
//! (`borrowed.rs`): strings are borrowed, never copied, and values the
//! reader does not use are skipped without building anything.
//!
//! It answers `None` for anything it is not sure serde_json reads the same
//! way — an escape in a string, `null`, a number that is not a plain
//! integer where one is read, nesting past [`MAX_DEPTH`] — and for anything
//! that is not JSON. The caller then reads the bytes the owned way, which
//! gives the same event or the precise error: `None` is never an error, so
//! the scanner only has to be exact about what it accepts, which is a
//! subset of what serde_json accepts.

/// Deeper than this, the scanner gives up (serde_json's limit is 128).
const MAX_DEPTH: u32 = 100;

pub(super) struct Scan<'a> {
    text: &'a str,
    i: usize,
    depth: u32,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The bytes of `w` (little-endian) that are `"`, `\` or a control
/// character: the lowest flagged byte is exact (the higher ones may be
/// false positives of the borrow, which the caller never looks at).
#[inline]
fn special(w: u64) -> u64 {
    let quote = w ^ (LO * u64::from(b'"'));
    let slash = w ^ (LO * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    zero(quote) | zero(slash) | (w.wrapping_sub(LO * 0x20) & !w & HI)
}

impl<'a> Scan<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Scan {
            text,
            i: 0,
            depth: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Skips JSON whitespace and returns the next byte.
    #[inline]
    pub(super) fn peek(&mut self) -> Option<u8> {
        let b = self.bytes();
        while let Some(&c) = b.get(self.i) {
            if matches!(c, b' ' | b'\n' | b'\t' | b'\r') {
                self.i += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string without escapes, borrowed.
    #[inline]
    pub(super) fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let b = self.bytes();
        let start = self.i;
        let mut i = start;
        loop {
            if let Some(chunk) = b.get(i..i + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                let m = special(u64::from_le_bytes(w));
                if m == 0 {
                    i += 8;
                    continue;
                }
                i += (m.trailing_zeros() / 8) as usize;
            }
            match b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    // `"` is ASCII: both ends are character boundaries.
                    return self.text.get(start..i);
                }
                b'\\' => return None,
                c if *c < 0x20 => return None,
                _ => i += 1,
            }
        }
    }

    /// An integer as serde_json reads it into an `i64`: no fraction or
    /// exponent, no leading zero, in range.
    pub(super) fn int(&mut self) -> Option<i64> {
        self.peek()?;
        let b = self.bytes();
        let neg = b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut n: i64 = 0;
        while let Some(&c) = b.get(self.i)
            && c.is_ascii_digit()
        {
            let d = i64::from(c - b'0');
            n = n.checked_mul(10)?;
            n = if neg {
                n.checked_sub(d)?
            } else {
                n.checked_add(d)?
            };
            self.i += 1;
        }
        let len = self.i - start;
        if len == 0 || (len > 1 && b[start] == b'0') {
            return None;
        }
        if matches!(b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(n)
    }

    pub(super) fn bool(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.word("true").map(|()| true),
            b'f' => self.word("false").map(|()| false),
            _ => None,
        }
    }

    fn word(&mut self, w: &str) -> Option<()> {
        let end = self.i + w.len();
        (self.bytes().get(self.i..end)? == w.as_bytes()).then(|| self.i = end)
    }

    /// Any JSON value, checked and dropped.
    pub(super) fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.str().map(drop),
            b'{' => self.object(|s, _| s.skip()),
            b'[' => self.array(|s| s.skip()),
            b't' => self.word("true"),
            b'f' => self.word("false"),
            b'n' => self.word("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Any JSON number (the grammar of RFC 8259), dropped.
    fn number(&mut self) -> Option<()> {
        let b = self.bytes();
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - s
        };
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let s = i;
        let n = digits(&mut i);
        if n == 0 || (n > 1 && b[s] == b'0') {
            return None;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return None;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return None;
            }
        }
        self.i = i;
        Some(())
    }

    /// An object: `field` is called with each key, and reads its value.
    #[inline]
    pub(super) fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            let key = self.str()?;
            self.eat(b':')?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array: `item` reads each element.
    #[inline]
    pub(super) fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        if self.peek()? == b']' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }
}

/// Field names seen in one object: a second one is `None` (a derived
/// struct rejects it, a map keeps the last; either way the owned reading
/// decides).
#[derive(Default)]
pub(super) struct Seen(u32);

impl Seen {
    #[inline]
    pub(super) fn first(&mut self, bit: u32) -> Option<()> {
        let m = 1u32 << bit;
        if self.0 & m != 0 {
            return None;
        }
        self.0 |= m;
        Some(())
    }

    pub(super) fn has(&self, bit: u32) -> bool {
        self.0 & (1u32 << bit) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the scanner accepts as a skipped value, serde_json accepts,
    /// for a set of tricky inputs.
    #[test]
    fn skip_accepts_only_json() {
        let cases = [
            "1",
            "-0",
            "01",
            "1.",
            "1.5",
            "1e5",
            "1E+5",
            "1e",
            "-",
            "--1",
            "\"a\"",
            "\"a\\n\"",
            "\"\u{1}\"",
            "[]",
            "[1,]",
            "[,1]",
            "{}",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:1}",
            "true",
            "tru",
            "nul",
            "null",
            "[[[]]]",
            "\"é\"",
            " [ 1 , 2 ] ",
            "{\"a\":[{\"b\":null}]}",
            "\"abcdefghijklmnop\\\"\"",
            "\"abcdefghijklmnopqr\"",
            "1 2",
        ];
        for c in cases {
            let mut s = Scan::new(c);
            let ours = s.skip().is_some() && s.at_end();
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(c).is_ok();
            if ours {
                assert!(theirs, "{c:?} accepted by the scanner only");
            }
        }
    }

    #[test]
    fn strings_and_ints() {
        let mut s = Scan::new(r#""0123456789abcdefgh" "#);
        assert_eq!(s.str(), Some("0123456789abcdefgh"));
        assert!(s.at_end());
        for (t, v) in [
            ("0", Some(0)),
            ("-12", Some(-12)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("1.0", None),
            ("012", None),
            ("-", None),
        ] {
            assert_eq!(Scan::new(t).int(), v, "{t}");
        }
    }
}
