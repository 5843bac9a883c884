//! Which channel(s) of a multichannel recording the model hears: the run's `channel` setting.
//!
//! DCASE 2026 ships stereo clips: channel 0 is the near microphone (the earlier editions' mono
//! signal), channel 1 the far microphone (more environmental noise, weaker machine). Its default is
//! the near microphone, as the organisers' baseline reads it; earlier editions are mono, where every
//! policy but `far` reads the one channel, and their default stays the mean of all channels.

use crate::ParseValueError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A channel policy. `NearAndFar` is the far-aware policy: the model is trained on the near
/// microphone, and a clip's embedding is the normalised concatenation of its near and its far
/// channel's embeddings, so a reference's distance is the mean of the two channels' cosine distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ChannelValue", into = "ChannelValue")]
pub enum ChannelPolicy {
    Near,
    Far,
    Mean,
    NearAndFar,
    /// One channel, counted from 0.
    Index(usize),
}

/// How a policy is written in TOML/JSON: a name or a channel number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum ChannelValue {
    Index(usize),
    Name(String),
}

impl TryFrom<ChannelValue> for ChannelPolicy {
    type Error = ParseValueError;
    fn try_from(v: ChannelValue) -> Result<Self, ParseValueError> {
        match v {
            ChannelValue::Index(i) => Ok(ChannelPolicy::Index(i)),
            ChannelValue::Name(s) => s.parse(),
        }
    }
}

impl From<ChannelPolicy> for ChannelValue {
    fn from(p: ChannelPolicy) -> Self {
        match p {
            ChannelPolicy::Index(i) => ChannelValue::Index(i),
            other => ChannelValue::Name(other.to_string()),
        }
    }
}

impl FromStr for ChannelPolicy {
    type Err = ParseValueError;
    fn from_str(s: &str) -> Result<Self, ParseValueError> {
        match s.trim() {
            "near" => Ok(ChannelPolicy::Near),
            "far" => Ok(ChannelPolicy::Far),
            "mean" => Ok(ChannelPolicy::Mean),
            "near+far" => Ok(ChannelPolicy::NearAndFar),
            t => t
                .parse::<usize>()
                .map(ChannelPolicy::Index)
                .map_err(|_| ParseValueError {
                    kind: "channel",
                    value: s.to_string(),
                    expected: "near, far, mean, near+far or a channel number",
                }),
        }
    }
}

impl fmt::Display for ChannelPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelPolicy::Near => f.write_str("near"),
            ChannelPolicy::Far => f.write_str("far"),
            ChannelPolicy::Mean => f.write_str("mean"),
            ChannelPolicy::NearAndFar => f.write_str("near+far"),
            ChannelPolicy::Index(i) => write!(f, "{i}"),
        }
    }
}

impl ChannelPolicy {
    /// The default of an edition: the near microphone for near/far stereo data (2026), else the mean
    /// of all channels.
    pub fn default_for(near_far_stereo: bool) -> Self {
        if near_far_stereo {
            ChannelPolicy::Near
        } else {
            ChannelPolicy::Mean
        }
    }

    /// The channel the network is trained on (`None` = the mean of all channels).
    pub fn training_channel(self) -> Option<usize> {
        match self {
            ChannelPolicy::Near | ChannelPolicy::NearAndFar => Some(0),
            ChannelPolicy::Far => Some(1),
            ChannelPolicy::Mean => None,
            ChannelPolicy::Index(i) => Some(i),
        }
    }

    /// The channels whose embeddings make a clip's embedding, concatenated in this order.
    pub fn embedding_channels(self) -> Vec<Option<usize>> {
        match self {
            ChannelPolicy::NearAndFar => vec![Some(0), Some(1)],
            other => vec![other.training_channel()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip_through_text_and_json() {
        for p in [
            ChannelPolicy::Near,
            ChannelPolicy::Far,
            ChannelPolicy::Mean,
            ChannelPolicy::NearAndFar,
            ChannelPolicy::Index(3),
        ] {
            assert_eq!(p.to_string().parse::<ChannelPolicy>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<ChannelPolicy>(&json).unwrap(), p);
        }
        assert_eq!(
            serde_json::to_string(&ChannelPolicy::Index(2)).unwrap(),
            "2"
        );
        assert_eq!(
            serde_json::to_string(&ChannelPolicy::NearAndFar).unwrap(),
            "\"near+far\""
        );
        let e = "left".parse::<ChannelPolicy>().unwrap_err().to_string();
        assert!(e.contains("'left'") && e.contains("near+far"), "{e}");
        assert!(serde_json::from_str::<ChannelPolicy>("\"left\"").is_err());
    }

    #[test]
    fn policies_choose_channels() {
        assert_eq!(ChannelPolicy::default_for(true), ChannelPolicy::Near);
        assert_eq!(ChannelPolicy::default_for(false), ChannelPolicy::Mean);
        assert_eq!(ChannelPolicy::Far.training_channel(), Some(1));
        assert_eq!(ChannelPolicy::Mean.training_channel(), None);
        assert_eq!(ChannelPolicy::NearAndFar.training_channel(), Some(0));
        assert_eq!(
            ChannelPolicy::NearAndFar.embedding_channels(),
            vec![Some(0), Some(1)]
        );
        assert_eq!(ChannelPolicy::Index(4).embedding_channels(), vec![Some(4)]);
    }
}
