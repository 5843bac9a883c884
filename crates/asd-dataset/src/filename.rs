//! The file-name conventions of DCASE task 2, 2020 to 2026.
//!
//! - 2020: `normal_id_00_00000000.wav`, `anomaly_id_00_00000000.wav`; eval test `id_05_00000000.wav`.
//! - 2021: `section_00_source_train_normal_0000.wav`; eval test `section_03_target_test_0000.wav`.
//! - 2022–2026: `section_00_source_train_normal_0000_<key>_<value>....wav` (or `..._noAttribute.wav`);
//!   eval test files are anonymised: `section_00_0000.wav`.

use asd_core::{Domain, Label, Split};

/// Which family of conventions a name follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameScheme {
    /// DCASE 2020: machine ids instead of sections, no domains.
    Ids,
    /// DCASE 2021: sections and domains, no attribute tokens.
    Sections,
    /// DCASE 2022–2025: sections, domains and attribute key/value tokens.
    Attributes,
}

/// What a file name tells about a clip. Fields the name does not carry are `None`/`Unknown`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    pub scheme: NameScheme,
    /// Section, or the machine id in DCASE 2020 (two digits as written).
    pub section: String,
    pub domain: Domain,
    pub split: Option<Split>,
    pub label: Label,
    pub index: String,
    /// Attribute tokens joined by `_` (`vel_12_loc_A`), `noAttribute`, or empty.
    pub attribute: String,
    /// Only section and index are in the name; the rest is in the evaluators' ground truth.
    pub anonymised: bool,
}

/// Audio extensions the decoder accepts.
pub const AUDIO_EXTENSIONS: [&str; 4] = ["wav", "flac", "ogg", "mp3"];

/// Why a name does not follow any convention.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("not an audio file (extension must be one of wav, flac, ogg, mp3)")]
    NotAudio,
    #[error("file name '{0}' follows no DCASE convention ({1})")]
    Unknown(String, &'static str),
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn domain(s: &str) -> Option<Domain> {
    match s {
        "source" => Some(Domain::Source),
        "target" => Some(Domain::Target),
        _ => None,
    }
}

fn split(s: &str) -> Option<Split> {
    match s {
        "train" => Some(Split::Train),
        "test" => Some(Split::Test),
        _ => None,
    }
}

fn label(s: &str) -> Option<Label> {
    match s {
        "normal" => Some(Label::Normal),
        "anomaly" => Some(Label::Anomaly),
        _ => None,
    }
}

/// Splits off and checks the extension, returning the stem.
pub fn audio_stem(name: &str) -> Result<&str, NameError> {
    let (stem, ext) = name.rsplit_once('.').ok_or(NameError::NotAudio)?;
    if AUDIO_EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)) && !stem.is_empty() {
        Ok(stem)
    } else {
        Err(NameError::NotAudio)
    }
}

/// Parses a clip's file name (without directories).
/// (One function of ~85 lines on purpose: one match over the token patterns of the editions'
/// naming schemes, each arm short; read together they show which pattern wins.)
pub fn parse_file_name(name: &str) -> Result<ParsedName, NameError> {
    let stem = audio_stem(name)?;
    let t: Vec<&str> = stem.split('_').collect();
    let unknown = |why| Err(NameError::Unknown(name.to_string(), why));
    let base = |scheme, section: &str, index: &str| ParsedName {
        scheme,
        section: section.to_string(),
        domain: Domain::Unknown,
        split: None,
        label: Label::Unknown,
        index: index.to_string(),
        attribute: String::new(),
        anonymised: false,
    };
    match t.as_slice() {
        [lab, "id", id, idx] if label(lab).is_some() => {
            if !digits(id) || !digits(idx) {
                return unknown("id and index must be digits");
            }
            Ok(ParsedName {
                label: label(lab).unwrap_or(Label::Unknown),
                ..base(NameScheme::Ids, id, idx)
            })
        }
        ["id", id, idx] => {
            if !digits(id) || !digits(idx) {
                return unknown("id and index must be digits");
            }
            Ok(ParsedName {
                anonymised: true,
                ..base(NameScheme::Ids, id, idx)
            })
        }
        ["section", sec, idx] => {
            if !digits(sec) || !digits(idx) {
                return unknown("section and index must be digits");
            }
            Ok(ParsedName {
                anonymised: true,
                ..base(NameScheme::Attributes, sec, idx)
            })
        }
        // DCASE 2021 eval test: domain and split, label hidden.
        ["section", sec, dom, "test", idx] if digits(idx) => {
            let Some(d) = domain(dom) else {
                return unknown("domain must be source or target");
            };
            if !digits(sec) {
                return unknown("section must be digits");
            }
            Ok(ParsedName {
                domain: d,
                split: Some(Split::Test),
                ..base(NameScheme::Sections, sec, idx)
            })
        }
        ["section", sec, dom, spl, lab, idx, rest @ ..] => {
            if !digits(sec) {
                return unknown("section must be digits");
            }
            let (Some(d), Some(s), Some(l)) = (domain(dom), split(spl), label(lab)) else {
                return unknown(
                    "expected section_XX_<source|target>_<train|test>_<normal|anomaly>_<index>",
                );
            };
            if !digits(idx) {
                return unknown("index must be digits");
            }
            if rest.iter().any(|r| r.is_empty()) {
                return unknown("empty attribute token");
            }
            let scheme = if rest.is_empty() {
                NameScheme::Sections
            } else {
                NameScheme::Attributes
            };
            Ok(ParsedName {
                domain: d,
                split: Some(s),
                label: l,
                attribute: rest.join("_"),
                ..base(scheme, sec, idx)
            })
        }
        _ => unknown("unrecognised token pattern"),
    }
}

/// The attribute key/value pairs of an attribute string (`vel_12_loc_A` → [(vel, 12), (loc, A)]).
/// `noAttribute` and the empty string have none; an odd trailing token is returned with an empty value.
pub fn attribute_pairs(attribute: &str) -> Vec<(String, String)> {
    if attribute.is_empty() || attribute == "noAttribute" {
        return Vec::new();
    }
    let t: Vec<&str> = attribute.split('_').collect();
    t.chunks(2)
        .map(|c| {
            (
                c[0].to_string(),
                c.get(1).map_or(String::new(), |v| v.to_string()),
            )
        })
        .collect()
}
