pub mod demo;
pub mod evaluate;
pub mod score;
