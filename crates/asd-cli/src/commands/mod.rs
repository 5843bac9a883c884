pub mod dataset;
pub mod demo;
pub mod evaluate;
pub mod score;
pub mod synth;
