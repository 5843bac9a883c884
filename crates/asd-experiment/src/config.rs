//! The experiment description: a TOML file (every key optional; defaults = the paper's settings) or flags.

use asd_scoring::MethodChoice;
use serde::{Deserialize, Serialize};

/// One scoring configuration: a method of `asd score` on all references or on k-means source means
/// plus target samples (`@means`), e.g. `ratio_k16@means`.
pub fn table_one_methods() -> Vec<MethodChoice> {
    let base = [
        "nn",
        "lof_k8",
        "lof_k16",
        "ratio_k8",
        "ratio_k16",
        "ratio_gwrp_r0.85",
        "ratio_gwrp_r0.9",
        "ratio_gwrp_r0.95",
    ];
    base.iter()
        .flat_map(|m| [m.to_string(), format!("{m}@means")])
        .map(|name| {
            name.parse()
                .unwrap_or_else(|e| unreachable!("Table I's names parse: {e}"))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Ensemble members (independently trained models).
    pub members: usize,
    /// Seed of everything; member i trains with a seed derived from it and i.
    pub seed: u64,
    /// Epochs per member (default: the paper's for the edition).
    pub epochs: Option<usize>,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Clip length in seconds (default: the longest of the machine types' median training-clip
    /// lengths, at least 4.38 s; shorter clips are tiled).
    pub clip_seconds: Option<f64>,
    /// Channel policy: "near" (channel 0), "far" (channel 1), "mean", "near+far" (far-aware: trained
    /// on the near microphone, embeddings of both channels concatenated) or a channel number. Default:
    /// "near" for DCASE 2026 (stereo near/far), "mean" for the mono editions.
    pub channel: Option<asd_core::ChannelPolicy>,
    /// Scoring configurations (default: the rows of the paper's Table I).
    pub methods: Vec<MethodChoice>,
    /// k-means centres per section for `@means` references.
    pub means: usize,
    /// K values of the ratio sweep (the paper's Figure 2); numbers above a section's references are skipped.
    pub sweep_k: Vec<usize>,
    /// r values of the GWRP sweep (the paper's Figure 3).
    pub sweep_r: Vec<f64>,
    /// Percentile of the gamma fit that sets the decision threshold of the submission files.
    pub decision_percentile: f64,
    /// The reference's extra train-mode forward pass of the un-mixed batch (BatchNorm statistics).
    pub unmixed_pass: bool,
    /// Train target-domain clips with their labels (the reference gives them all-zero labels).
    pub target_labels: bool,
    /// What embeds the clips: the trained network (default) or a frozen front-end (`{ kind = "beats",
    /// weights = "FILE" }`, `{ kind = "stft" }`), which needs no training: one member, embedded once.
    pub frontend: asd_frontend::FrontendSpec,
    /// The scores' distance (default: cosine for the network, euclidean for frozen front-ends, as the
    /// authors' code scores its `*-raw` systems).
    pub distance: Option<asd_scoring::Distance>,
    /// SMOTE of the target references with this many neighbours (none by default), seeded by `seed`.
    pub smote: Option<usize>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            members: 10,
            seed: 0,
            epochs: None,
            batch_size: 64,
            learning_rate: 1e-3,
            clip_seconds: None,
            channel: None,
            methods: table_one_methods(),
            means: 16,
            sweep_k: (0..10).map(|i| 1usize << i).collect(),
            sweep_r: (0..=20).map(|i| f64::from(i) * 0.05).collect(),
            decision_percentile: 0.9,
            unmixed_pass: true,
            target_labels: false,
            frontend: asd_frontend::FrontendSpec::Network,
            distance: None,
            smote: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("invalid setting: {0}")]
    Value(String),
}

impl RunConfig {
    pub fn from_toml(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let cfg: RunConfig = toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The distance the scores use: the configured one, else the front-end's default.
    pub fn distance(&self) -> asd_scoring::Distance {
        self.distance.unwrap_or(if self.frontend.is_frozen() {
            asd_scoring::Distance::Euclidean
        } else {
            asd_scoring::Distance::Cosine
        })
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |s: String| Err(ConfigError::Value(s));
        if self.members == 0 {
            return bad("members must be at least 1".into());
        }
        let train = asd_model::train::TrainConfig {
            epochs: self.epochs.unwrap_or(1),
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            ..Default::default()
        };
        if let Err(e) = train.validate() {
            return bad(match e {
                asd_model::ModelError::Config(m) => m,
                other => other.to_string(),
            });
        }
        if let Some(s) = self.clip_seconds
            && let Err(e) = asd_audio::length::check_clip_seconds(s)
        {
            return bad(format!("clip_seconds {e}"));
        }
        if self.methods.is_empty() {
            return bad("methods is empty".into());
        }
        if self.smote == Some(0) {
            return bad("smote must be at least 1 (neighbours per target reference)".into());
        }
        if self.means == 0 {
            return bad("means must be at least 1 (k-means centres per section)".into());
        }
        if self.sweep_k.contains(&0) {
            return bad("sweep_k values must be at least 1".into());
        }
        if let Some(r) = self.sweep_r.iter().find(|r| !(0.0..=1.0).contains(*r)) {
            return bad(format!("sweep_r values must lie in [0, 1], got {r}"));
        }
        if !(0.0..1.0).contains(&self.decision_percentile) {
            return bad(format!(
                "decision_percentile must lie in [0, 1), got {}",
                self.decision_percentile
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_and_bad_values_are_named() {
        let d = RunConfig::default();
        assert_eq!(d.members, 10);
        assert_eq!(
            d.methods.len(),
            16,
            "8 Table I rows, each on all samples and on source means"
        );
        assert!(
            d.methods
                .contains(&"ratio_gwrp_r0.95@means".parse().unwrap())
        );
        assert_eq!(d.sweep_r.len(), 21);
        assert!(d.validate().is_ok());
        let bad = |f: fn(&mut RunConfig), word: &str| {
            let mut c = RunConfig::default();
            f(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(word), "{e}");
        };
        bad(|c| c.members = 0, "members");
        bad(|c| c.batch_size = 1, "batch_size");
        bad(|c| c.epochs = Some(0), "epochs");
        bad(|c| c.sweep_r = vec![0.5, 1.5], "1.5");
        bad(|c| c.sweep_k = vec![0], "sweep_k");
        bad(|c| c.decision_percentile = 1.0, "decision_percentile");
        bad(|c| c.means = 0, "means");
        bad(|c| c.clip_seconds = Some(1e9), "clip_seconds");
        bad(|c| c.clip_seconds = Some(f64::NAN), "clip_seconds");
        bad(|c| c.clip_seconds = Some(0.0), "clip_seconds");
        let ok = RunConfig {
            clip_seconds: Some(asd_audio::length::MAX_CLIP_SECONDS),
            ..RunConfig::default()
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn channel_policies_read_from_toml_as_names_or_numbers() {
        use asd_core::ChannelPolicy;
        for (text, want) in [
            ("channel = \"near\"", Some(ChannelPolicy::Near)),
            ("channel = \"far\"", Some(ChannelPolicy::Far)),
            ("channel = \"mean\"", Some(ChannelPolicy::Mean)),
            ("channel = \"near+far\"", Some(ChannelPolicy::NearAndFar)),
            ("channel = 3", Some(ChannelPolicy::Index(3))),
            ("members = 2", None),
        ] {
            let c: RunConfig = toml::from_str(text).unwrap();
            assert_eq!(c.channel, want, "{text}");
            let back: RunConfig =
                serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
            assert_eq!(back.channel, want, "{text} through run_config.json");
        }
        let e = toml::from_str::<RunConfig>("channel = \"left\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("left"), "{e}");
    }

    #[test]
    fn unknown_method_names_are_refused_when_the_file_is_read() {
        let e = toml::from_str::<RunConfig>("methods = [\"ratio_k16\", \"magic\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("magic"), "{e}");
        let c: RunConfig = toml::from_str("methods = [\"lof_k16@means\"]").unwrap();
        assert_eq!(c.methods[0].to_string(), "lof_k16@means");
    }
}
