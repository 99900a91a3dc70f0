//! Search keys: the form in which names are stored for search and in which a query is
//! compared with them, so that `Łukasz`, `łukasz` and `LUKASZ` find "Łukasz Żółć",
//! `zolc` does too, and `αθηνα` finds "Ἀθηνᾶ".
//!
//! A key is made in four steps:
//!
//! 1. Unicode's compatibility caseless form (the standard's D146: NFD, full case
//!    folding, NFKD, full case folding, NFKD): `ﬁ` is `fi`, `Ⅻ` is `xii`, full-width
//!    `Ａ` is `a`, `ß` is `ss`, and the Greek final `ς` is `σ` (plain lower-casing keeps
//!    `ß` and `ς`, which users do not type where the name has them).
//! 2. Accents dropped: every combining mark with a non-zero canonical combining class,
//!    which is what NFKD splits off a letter (acute, ogonek, cedilla, the Greek
//!    breathings and accents, Hebrew and Arabic vowel points). Marks of class 0 stay:
//!    they are the vowel signs of Indic scripts, letters in their own right, where
//!    dropping them would make different names one. (A few scripts, Thai's vowels below
//!    the line and Tibetan's, give vowel signs a class too; there a search matches a
//!    little more, never less.)
//! 3. The Latin letters that do not decompose but that people type without their
//!    stroke or as two letters: `ł`→`l`, `ø`→`o`, `æ`→`ae`, `œ`→`oe`, `đ` and `ð`→`d`,
//!    `þ`→`th`, `ħ`→`h`, `ı`→`i`, `ŧ`→`t`, `ƀ`→`b`, `ǥ`→`g`, `ɨ`→`i`, `ƶ`→`z`.
//! 4. Default-ignorable characters (zero-width spaces and joiners, soft hyphens, …)
//!    dropped, so they can neither hide a name from a search nor make a query miss;
//!    each run of whitespace one space, none at either end.
//!
//! No script is transliterated into another (no `deunicode`): Greek stays Greek and
//! Cyrillic Cyrillic. Transliteration depends on the language (`ü` is `ue` in German,
//! `u` elsewhere; Russian has several romanisations; Chinese characters become pinyin
//! that matches every homophone), people search a name in the script they know it in,
//! and a transliteration table would tie every stored key to one version of it.
//!
//! Every step works a character at a time and nothing is composed again at the end
//! (Hangul stays in its letters, jamo), so the key of the start of a text is the start
//! of the text's key: what has been typed so far finds what it begins, `기` finds
//! `김`. Keys are compared code point by code point, which is how SQLite compares text
//! and how PostgreSQL does under `COLLATE "C"`.

use icu_casemap::CaseMapper;
use icu_normalizer::{DecomposingNormalizerBorrowed, properties::CanonicalCombiningClassMap};

use crate::chars::{is_default_ignorable, is_word_char};

/// The longest key, in bytes (cut at a character's edge). A name is at most 64
/// characters, but the compatibility forms of a few characters are many (U+FDFA is 18
/// letters), and PostgreSQL refuses an index entry of more than about 2,700 bytes. A
/// query is cut the same way, so a long query still finds the name it begins.
pub const MAX_KEY_BYTES: usize = 512;

/// The search key of `text` (see the module's doc).
pub fn key(text: &str) -> String {
    let nfd = DecomposingNormalizerBorrowed::new_nfd();
    let nfkd = DecomposingNormalizerBorrowed::new_nfkd();
    let fold = CaseMapper::new();
    let once = nfkd
        .normalize(&fold.fold_string(&nfd.normalize(text)))
        .into_owned();
    let caseless = nfkd.normalize(&fold.fold_string(&once)).into_owned();

    let classes = CanonicalCombiningClassMap::new();
    let mut key = String::with_capacity(caseless.len());
    let mut space = false;
    for c in caseless.chars() {
        if classes.get_u8(c) != 0 || is_default_ignorable(c) {
            continue;
        }
        if c.is_whitespace() {
            space = !key.is_empty();
            continue;
        }
        if std::mem::take(&mut space) {
            key.push(' ');
        }
        match unstroked(c) {
            Some(letters) => key.push_str(letters),
            None => key.push(c),
        }
    }
    let end = key.floor_char_boundary(MAX_KEY_BYTES);
    key.truncate(end);
    key
}

/// Step 3: a letter as people type it when they have no key for it.
fn unstroked(c: char) -> Option<&'static str> {
    Some(match c {
        'ł' => "l",
        'ø' => "o",
        'æ' => "ae",
        'œ' => "oe",
        'đ' | 'ð' => "d",
        'þ' => "th",
        'ħ' => "h",
        'ı' | 'ɨ' => "i",
        'ŧ' => "t",
        'ƀ' => "b",
        'ǥ' => "g",
        'ƶ' => "z",
        _ => return None,
    })
}

/// Where a search term comes from, which orders the results: a username or a whole
/// display name first, then a word of either. Stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    Whole = 0,
    Word = 1,
}

impl Rank {
    pub const ALL: [Rank; 2] = [Rank::Whole, Rank::Word];

    pub fn number(self) -> i16 {
        self as i16
    }
}

/// One key under which a user is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub rank: Rank,
    pub text: String,
}

/// The terms a user is found by: the keys of the username and of the display name
/// (a query finds the user when it begins one of them), and each word of either
/// (letters, marks and digits between spaces or punctuation: `luc` finds "Jean-Luc",
/// `alice` the Matrix user `@alice:example.org`). A word that begins a whole key is
/// left out, since every query it would answer finds the whole one already; no term
/// is there twice.
pub fn terms(username: &str, display_name: &str) -> Vec<Term> {
    let mut wholes: Vec<String> = Vec::with_capacity(2);
    for whole in [key(username), key(display_name)] {
        if !whole.is_empty() && !wholes.contains(&whole) {
            wholes.push(whole);
        }
    }
    let mut words: Vec<&str> = Vec::new();
    for whole in &wholes {
        for word in whole.split(|c| !is_word_char(c)) {
            let begins_a_whole = wholes.iter().any(|w| w.starts_with(word));
            if !word.is_empty() && !begins_a_whole && !words.contains(&word) {
                words.push(word);
            }
        }
    }
    let words: Vec<Term> = words
        .into_iter()
        .map(|word| Term {
            rank: Rank::Word,
            text: word.to_owned(),
        })
        .collect();
    wholes
        .into_iter()
        .map(|text| Term {
            rank: Rank::Whole,
            text,
        })
        .chain(words)
        .collect()
}

/// The least text greater than every text that begins with `prefix`, in code point
/// order: `term >= prefix AND term < after_prefix(prefix)` is "begins with `prefix`"
/// as a range an index can serve. `None` when there is no such text (an empty prefix).
pub fn after_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{d7ff}' => Some('\u{e000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `query` finds a user of this display name, as the store asks it.
    fn finds(query: &str, display_name: &str) -> bool {
        let query = key(query);
        let upper = after_prefix(&query);
        terms("someone", display_name).iter().any(|term| {
            term.text.as_str() >= query.as_str()
                && upper
                    .as_deref()
                    .is_none_or(|upper| term.text.as_str() < upper)
        })
    }

    #[test]
    fn names_are_found_by_what_people_type() {
        for (name, queries) in [
            (
                "Łukasz Żółć",
                &[
                    "Łukasz",
                    "łukasz",
                    "LUKASZ",
                    "luk",
                    "zolc",
                    "Żółć",
                    "żó",
                    "łukasz żółć",
                ][..],
            ),
            ("Ærø", &["Ærø", "ærø", "aero", "ÆRØ", "ae"]),
            ("Ἀθηνᾶ", &["Ἀθηνᾶ", "αθηνα", "ΑΘΗΝΑ", "αθη", "ἀθ"]),
            ("Straße", &["strasse", "STRASSE", "straße", "straẞe"]),
            ("Ὀδυσσεύς", &["οδυσσευς", "οδυσσευσ", "ΟΔΥΣΣΕΥΣ"]),
            ("Jean-Luc Picard", &["luc", "picard", "jean-l"]),
            ("Ｆｕｌｌ Ｗｉｄｔｈ", &["full", "width", "full w"]),
            ("Zo\u{200b}ë", &["zoe"]),
            ("Dž Iñárritu", &["dz", "inarritu"]),
            ("İstanbul Işık", &["istanbul", "isik"]),
            ("김철수", &["김", "기", "김철"]),
            ("Иван Йогуртов", &["иван", "йог", "ИВАН"]),
        ] {
            for query in queries {
                assert!(finds(query, name), "{query:?} finds {name:?}");
            }
        }
    }

    #[test]
    fn other_names_are_not_found() {
        for (name, query) in [
            ("Łukasz Żółć", "lukasz x"),
            ("Ærø", "aeroo"),
            ("Ἀθηνᾶ", "athena"),
            ("Anna Maria", "aria"),
            ("Joanna", "anna"),
        ] {
            assert!(!finds(query, name), "{query:?} does not find {name:?}");
        }
    }

    #[test]
    fn keys_fold_case_compatibility_forms_and_spaces() {
        assert_eq!(key("  Łukasz   Żółć "), "lukasz zolc");
        assert_eq!(key("ﬁnn Ⅻ"), "finn xii");
        assert_eq!(key("Ἀθηνᾶ"), "αθηνα");
        assert_eq!(key("ΣΊΣΥΦΟΣ"), "σισυφοσ");
        assert_eq!(key("Þórður Ðórr"), "thordur dorr");
        // An Indic vowel sign is a letter of the name and stays; a virama goes.
        assert_eq!(key("किरण"), "किरण");
        assert_eq!(key("\u{200b}\u{2060}"), "");
        assert_eq!(key("100% _a_\\"), "100% _a_\\");
    }

    #[test]
    fn the_key_of_a_beginning_begins_the_key() {
        for name in [
            "Łukasz Żółć",
            "Ærø",
            "Ἀθηνᾶ",
            "ᾼ Straße ǅ",
            "김철수",
            "ﬃ Ⅻ ①",
            "e\u{301}\u{323}x",
        ] {
            let whole = key(name);
            let mut beginning = String::new();
            for c in name.chars() {
                beginning.push(c);
                let start = key(&beginning);
                assert!(whole.starts_with(&start), "{beginning:?} of {name:?}");
            }
        }
    }

    #[test]
    fn long_keys_are_cut_at_a_character() {
        let name = "\u{fdfa}".repeat(64);
        let long = key(&name);
        assert!(long.len() <= MAX_KEY_BYTES && long.len() > MAX_KEY_BYTES - 4);
        assert!(long.starts_with(&key(&"\u{fdfa}".repeat(3))));
    }

    #[test]
    fn terms_are_the_wholes_then_the_words_that_add_something() {
        let texts = |username, display_name| -> Vec<(Rank, String)> {
            terms(username, display_name)
                .into_iter()
                .map(|t| (t.rank, t.text))
                .collect()
        };
        let whole = |s: &str| (Rank::Whole, s.to_owned());
        let word = |s: &str| (Rank::Word, s.to_owned());
        assert_eq!(
            texts("lukasz", "Łukasz Żółć"),
            [whole("lukasz"), whole("lukasz zolc"), word("zolc")]
        );
        assert_eq!(texts("anna", "Anna"), [whole("anna")]);
        assert_eq!(
            texts("@alice:example.org", "Alice"),
            [
                whole("@alice:example.org"),
                whole("alice"),
                word("example"),
                word("org")
            ]
        );
        assert_eq!(
            texts("j.smith", "Smith Smith-Jones"),
            [whole("j.smith"), whole("smith smith-jones"), word("jones")]
        );
    }

    #[test]
    fn the_range_after_a_prefix_holds_exactly_what_begins_with_it() {
        assert_eq!(after_prefix("abc").as_deref(), Some("abd"));
        assert_eq!(after_prefix("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(after_prefix("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(after_prefix(""), None);
        assert_eq!(after_prefix("\u{10ffff}"), None);
        let upper = after_prefix("zó").unwrap();
        for inside in ["zó", "zóa", "zó\u{10ffff}\u{10ffff}"] {
            assert!(inside >= "zó" && inside < upper.as_str(), "{inside:?}");
        }
        for outside in ["zn", "zô", "z"] {
            assert!(outside < "zó" || outside >= upper.as_str(), "{outside:?}");
        }
    }
}
