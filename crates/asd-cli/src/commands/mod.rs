pub mod dataset;
pub mod demo;
pub mod embed;
pub mod evaluate;
pub mod model;
pub mod score;
pub mod synth;
pub mod train;
