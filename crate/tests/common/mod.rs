//! Shared helpers for the integration tests: where the vector files are, a
//! minimal JSON reader for them (the crate has no dependencies), and hex.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

/// Wycheproof's vectors, copied into the repository: `test/vectors/wycheproof`.
pub fn wycheproof_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test/vectors/wycheproof")
}

/// The repository's own vectors, `test/vectors`.
pub fn repo_vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test/vectors")
}

pub fn load(path: PathBuf) -> Json {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Json::parse(&text)
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(text: &str) -> Json {
        let mut p = Parser { s: text.as_bytes(), pos: 0 };
        let v = p.value();
        p.ws();
        assert_eq!(p.pos, p.s.len(), "trailing characters in JSON");
        v
    }

    pub fn get(&self, key: &str) -> &Json {
        self.try_get(key).unwrap_or_else(|| panic!("missing key {key:?}"))
    }

    pub fn try_get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            other => panic!("not an array: {other:?}"),
        }
    }

    pub fn num(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// A hex string field, decoded.
    pub fn bytes(&self, key: &str) -> Vec<u8> {
        hex(self.get(key).str())
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn next(&mut self) -> u8 {
        let c = *self.s.get(self.pos).expect("unexpected end of JSON");
        self.pos += 1;
        c
    }

    fn expect(&mut self, lit: &str) {
        assert!(self.s[self.pos..].starts_with(lit.as_bytes()), "expected {lit} at {}", self.pos);
        self.pos += lit.len();
    }

    fn value(&mut self) -> Json {
        self.ws();
        match self.s.get(self.pos).copied().expect("unexpected end of JSON") {
            b'{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.s[self.pos] == b'}' {
                    self.pos += 1;
                    return Json::Obj(entries);
                }
                loop {
                    self.ws();
                    assert_eq!(self.next(), b'"', "object key at {}", self.pos);
                    let key = self.string();
                    self.ws();
                    assert_eq!(self.next(), b':', "':' at {}", self.pos);
                    entries.push((key, self.value()));
                    self.ws();
                    match self.next() {
                        b',' => continue,
                        b'}' => return Json::Obj(entries),
                        c => panic!("unexpected {:?} in object at {}", c as char, self.pos),
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s[self.pos] == b']' {
                    self.pos += 1;
                    return Json::Arr(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    match self.next() {
                        b',' => continue,
                        b']' => return Json::Arr(items),
                        c => panic!("unexpected {:?} in array at {}", c as char, self.pos),
                    }
                }
            }
            b'"' => {
                self.pos += 1;
                Json::Str(self.string())
            }
            b't' => {
                self.expect("true");
                Json::Bool(true)
            }
            b'f' => {
                self.expect("false");
                Json::Bool(false)
            }
            b'n' => {
                self.expect("null");
                Json::Null
            }
            _ => {
                let start = self.pos;
                while self.pos < self.s.len() && b"+-0123456789.eE".contains(&self.s[self.pos]) {
                    self.pos += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap();
                Json::Num(text.parse().unwrap_or_else(|_| panic!("bad number {text:?}")))
            }
        }
    }

    /// The rest of a string whose opening quote has been consumed.
    fn string(&mut self) -> String {
        let mut out = String::new();
        loop {
            let start = self.pos;
            while !matches!(self.s[self.pos], b'"' | b'\\') {
                self.pos += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.pos]).expect("UTF-8"));
            match self.next() {
                b'"' => return out,
                _ => match self.next() {
                    b'n' => out.push('\n'),
                    b't' => out.push('\t'),
                    b'r' => out.push('\r'),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'u' => {
                        let mut code = self.hex4();
                        if (0xd800..0xdc00).contains(&code) {
                            self.expect("\\u");
                            code = 0x10000 + ((code - 0xd800) << 10) + (self.hex4() - 0xdc00);
                        }
                        out.push(char::from_u32(code).expect("valid \\u escape"));
                    }
                    c => out.push(c as char), // \" \\ \/
                },
            }
        }
    }

    fn hex4(&mut self) -> u32 {
        let digits = std::str::from_utf8(&self.s[self.pos..self.pos + 4]).unwrap();
        self.pos += 4;
        u32::from_str_radix(digits, 16).expect("\\u escape")
    }
}
