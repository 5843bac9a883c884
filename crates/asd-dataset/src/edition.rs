//! The DCASE task 2 editions and how to tell them apart.

use crate::filename::NameScheme;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Edition {
    Dcase2020,
    Dcase2021,
    Dcase2022,
    Dcase2023,
    Dcase2024,
    Dcase2025,
    Dcase2026,
}

impl Edition {
    pub const ALL: [Edition; 7] = [
        Edition::Dcase2020,
        Edition::Dcase2021,
        Edition::Dcase2022,
        Edition::Dcase2023,
        Edition::Dcase2024,
        Edition::Dcase2025,
        Edition::Dcase2026,
    ];

    pub fn year(self) -> u16 {
        match self {
            Edition::Dcase2020 => 2020,
            Edition::Dcase2021 => 2021,
            Edition::Dcase2022 => 2022,
            Edition::Dcase2023 => 2023,
            Edition::Dcase2024 => 2024,
            Edition::Dcase2025 => 2025,
            Edition::Dcase2026 => 2026,
        }
    }

    /// Whether the clips are stereo recordings of a near (channel 0) and a far (channel 1) microphone
    /// (DCASE 2026, "noise-aware").
    pub fn near_far_stereo(self) -> bool {
        self == Edition::Dcase2026
    }

    /// Machine types that occur in this edition only and so identify it (2026's emulated machines of
    /// the development set and its new evaluation machines).
    fn own_machines(self) -> &'static [&'static str] {
        match self {
            Edition::Dcase2026 => &[
                "ToyCarEmu",
                "bearingEmu",
                "gearboxEmu",
                "sliderEmu",
                "valveEmu",
                "SewingMachine",
                "BlowerDustCollector",
                "Sander",
            ],
            _ => self.eval_machines(),
        }
    }

    /// Whether clips carry source/target domains.
    pub fn has_domains(self) -> bool {
        self != Edition::Dcase2020
    }

    /// Machine types of the evaluation set, which is what tells 2023, 2024 and 2025 apart (their
    /// development sets share the same seven machines). 2026's additional training / evaluation set
    /// shares ToyDrone with 2023 and ToothBrush with 2024.
    fn eval_machines(self) -> &'static [&'static str] {
        match self {
            Edition::Dcase2023 => &[
                "ToyDrone",
                "ToyNscale",
                "ToyTank",
                "Vacuum",
                "bandsaw",
                "grinder",
                "shaker",
            ],
            Edition::Dcase2024 => &[
                "3DPrinter",
                "AirCompressor",
                "BrushlessMotor",
                "HairDryer",
                "HoveringDrone",
                "RoboticArm",
                "Scanner",
                "ToothBrush",
                "ToyCircuit",
            ],
            Edition::Dcase2025 => &[
                "AutoTrash",
                "BandSealer",
                "CoffeeGrinder",
                "HomeCamera",
                "Polisher",
                "ScrewFeeder",
                "ToyPet",
                "ToyRCCar",
            ],
            Edition::Dcase2026 => &[
                "ToyDrone",
                "ToothBrush",
                "SewingMachine",
                "BlowerDustCollector",
                "Sander",
            ],
            _ => &[],
        }
    }
}

impl fmt::Display for Edition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DCASE {}", self.year())
    }
}

impl FromStr for Edition {
    type Err = asd_core::ParseValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let year = s
            .trim()
            .trim_start_matches("dcase")
            .trim_start_matches("DCASE");
        Edition::ALL
            .into_iter()
            .find(|e| e.year().to_string() == year.trim())
            .ok_or_else(|| asd_core::ParseValueError {
                kind: "edition",
                value: s.to_string(),
                expected: "2020, 2021, 2022, 2023, 2024, 2025, 2026",
            })
    }
}

/// What the file names and folders of a dataset say about its edition.
#[derive(Debug, Default)]
pub struct EditionEvidence {
    pub schemes: BTreeSet<NameScheme>,
    pub sections: BTreeSet<String>,
    pub machines: BTreeSet<String>,
    /// 2021 keeps source and target test clips in separate folders.
    pub domain_test_folders: bool,
}

/// The edition the evidence points to, and whether the guess is certain.
pub fn detect(e: &EditionEvidence) -> (Edition, bool) {
    if e.schemes.contains(&NameScheme::Ids) {
        return (Edition::Dcase2020, true);
    }
    if e.domain_test_folders
        || (e.schemes.contains(&NameScheme::Sections)
            && !e.schemes.contains(&NameScheme::Attributes))
    {
        return (Edition::Dcase2021, true);
    }
    // 2022 has sections 00-05 per machine type; 2023-2025 one section per machine type.
    if e.sections.iter().any(|s| s != "00") {
        return (Edition::Dcase2022, true);
    }
    // 2026 first: its own machine names are distinctive, while two of its evaluation machines were
    // already evaluation machines of 2023 and 2024.
    for ed in [
        Edition::Dcase2026,
        Edition::Dcase2023,
        Edition::Dcase2024,
        Edition::Dcase2025,
    ] {
        if ed.own_machines().iter().any(|m| e.machines.contains(*m)) {
            return (ed, true);
        }
    }
    (Edition::Dcase2023, false)
}
