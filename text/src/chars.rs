//! Classes of characters, each a Unicode property read from ICU4X's data, so that
//! "invisible" or "combining" means what the standard says, version after version.

use icu_properties::{
    CodePointMapData, CodePointSetData,
    props::{
        BidiControl, DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup, WhiteSpace,
    },
};

/// A bidirectional formatting control (the `Bidi_Control` property: U+061C, U+200E,
/// U+200F, U+202A–U+202E, U+2066–U+2069). It reorders the text around it, so that
/// `admin\u{202E}gnp.exe` shows as "adminexe.png".
pub fn is_bidi_control(c: char) -> bool {
    CodePointSetData::new::<BidiControl>().contains(c)
}

/// A character that shows nothing where it is not understood
/// (`Default_Ignorable_Code_Point`): zero-width spaces and joiners, the Hangul fillers
/// U+115F, U+1160, U+3164 and U+FFA0, variation selectors, tags, the soft hyphen, …
pub fn is_default_ignorable(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// A character that leaves no visible trace by itself: whitespace, a default-ignorable
/// one, or the braille blank U+2800 (an empty cell, the usual way to a blank-looking
/// name where the others are refused).
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace() || is_default_ignorable(c) || c == '\u{2800}'
}

/// A combining mark (general category M: Mn, Mc, Me), drawn on the character before
/// it; stacked by the dozen, they cover the lines above and below.
pub fn is_combining_mark(c: char) -> bool {
    GeneralCategoryGroup::Mark.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

/// The first code point of each run over which every class here, `char::is_control`
/// and `char::is_whitespace` hold or fail alike, in order from U+0000: a class of
/// characters made of them is then known by asking once per run (a few thousand)
/// instead of once per code point (1.1 million), which took most of a server's start.
pub fn run_starts() -> Vec<u32> {
    let mut starts = vec![0];
    let mut cut = |run: std::ops::RangeInclusive<u32>| {
        starts.extend([*run.start(), run.end() + 1]);
    };
    // The general category holds the marks and the controls (Cc).
    for run in CodePointMapData::<GeneralCategory>::new().iter_ranges() {
        cut(run.range);
    }
    for runs in [
        CodePointSetData::new::<BidiControl>().iter_ranges(),
        CodePointSetData::new::<DefaultIgnorableCodePoint>().iter_ranges(),
        CodePointSetData::new::<WhiteSpace>().iter_ranges(),
    ] {
        runs.for_each(&mut cut);
    }
    cut(0x2800..=0x2800);
    starts.retain(|&c| c <= u32::from(char::MAX));
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// A letter, a mark or a number: what words are made of.
pub(crate) fn is_word_char(c: char) -> bool {
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    [
        GeneralCategoryGroup::Letter,
        GeneralCategoryGroup::Mark,
        GeneralCategoryGroup::Number,
    ]
    .iter()
    .any(|group| group.contains(category))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_chars() -> impl Iterator<Item = char> {
        (0..=0x10ffff).filter_map(char::from_u32)
    }

    #[test]
    fn every_class_holds_or_fails_alike_through_each_run() {
        let classes = |c: char| {
            [
                c.is_control(),
                c.is_whitespace(),
                is_bidi_control(c),
                is_default_ignorable(c),
                is_invisible(c),
                is_combining_mark(c),
            ]
        };
        let starts = run_starts();
        assert_eq!(starts.first(), Some(&0));
        let mut runs = starts.iter().peekable();
        let mut first = None;
        for c in all_chars() {
            let at = u32::from(c);
            // Past the surrogates, whose run has no `char`, the next run starts anew.
            while runs.peek().is_some_and(|&&start| start <= at) {
                runs.next();
                first = None;
            }
            let first = *first.get_or_insert(c);
            assert_eq!(
                classes(c),
                classes(first),
                "{at:04X} in the run of {:04X}",
                u32::from(first)
            );
        }
    }

    #[test]
    fn the_bidi_controls_are_the_nine_named_in_the_rules() {
        let controls: Vec<u32> = all_chars()
            .filter(|&c| is_bidi_control(c))
            .map(u32::from)
            .collect();
        let named: Vec<u32> = [0x061c, 0x200e, 0x200f]
            .into_iter()
            .chain(0x202a..=0x202e)
            .chain(0x2066..=0x2069)
            .collect();
        assert_eq!(controls, named);
    }

    #[test]
    fn invisible_characters_are_spaces_ignorables_and_the_braille_blank() {
        for c in [
            ' ',
            '\u{a0}',
            '\u{3000}',
            '\u{200b}',
            '\u{200d}',
            '\u{3164}',
            '\u{115f}',
            '\u{ffa0}',
            '\u{2800}',
            '\u{feff}',
            '\u{ad}',
            '\u{fe0f}',
            '\u{e0041}',
        ] {
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', '.', 'ł', '\u{2801}', '😀', '\u{0301}'] {
            assert!(!is_invisible(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn combining_marks_are_every_kind_of_mark() {
        // Mn, Mc (a Devanagari vowel sign) and Me (the Cyrillic millions sign).
        for c in [
            '\u{0301}',
            '\u{0328}',
            '\u{0313}',
            '\u{093f}',
            '\u{0489}',
            '\u{e0100}',
        ] {
            assert!(is_combining_mark(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', '´', 'ą', '\u{200d}'] {
            assert!(!is_combining_mark(c), "U+{:04X}", u32::from(c));
        }
    }
}
