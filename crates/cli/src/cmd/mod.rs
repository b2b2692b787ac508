pub mod keygen;
pub mod monitor;
pub mod token;
pub mod witness;
